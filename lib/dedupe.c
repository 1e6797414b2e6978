/*
 * fs-dedupe's state: idempotency keys, debounce holds, per-day counters and
 * the duplicate sets a scan finds; and the campaign enrolments fs-push takes.
 *
 * Keys are written tentative (final = 0) with the run that wrote them; they
 * count for that run at once and for every other run only once the command
 * that ends the pipeline confirms them (fs_keys_finalize).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

/*
 * The key store.  Keys are appended, in the order they are first seen, to
 * idem_store (seq, k, run, final): k is the 16 bytes of a canonical event id
 * ("evt_" and 32 lower-case hex digits) or else the id's own text, and run
 * names the idem_runs row that holds the time and TTL of the run that wrote
 * it.  Only seq is indexed, so a run writes the end of the table whatever
 * order its ids come in: a table ordered by id has every page dirtied again
 * by each commit once it holds more keys than a commit writes.  Each run
 * reads the live keys into a hash table in memory to look them up.
 * fs_keys_finalize, which another command calls in its checkpoint, appends
 * a mark to idem_final (a key and the last seq it covers); the next run
 * folds the marks into the store.  The view idem_keys shows one row a key.
 */
struct idem_entry {
	uint64_t h;
	int64_t seq;
	fs_time first_seen;
	unsigned char bin[16];	/* a canonical key */
	size_t off, len;	/* any other key's bytes, in the arena */
	bool canon, final, mine;
};

struct idem_slot {
	uint32_t entry;		/* index + 1; 0 is empty */
	uint32_t tag;		/* the hash's high half, to pass other keys by */
};

struct fs_idem {
	struct fs_state *st;
	fs_time now;
	int64_t ttl, run;	/* run: this run's idem_runs row, 0 until its first key */
	const char *run_id;
	struct idem_entry *e;
	size_t n, cap;
	struct idem_slot *slot;
	size_t nslot;		/* a power of two, at most half full */
	struct fs_buf arena;
	struct pending {	/* keys decided, their rows not yet written */
		uint32_t entry;
		int64_t old;	/* a row it replaces, or 0 */
	} *pend;
	size_t npend, cappend;
	fs_stmt *ins[7], *del, *fin;	/* ins[k] writes IDEM_ROWS >> k rows */
};

/* Rows one INSERT writes at most: a statement a row costs about twice as
 * much.  Fewer are written by the statements for 32, 16, ..., 1 rows, so
 * that any number takes a handful of statements (each a round trip to a
 * database), not one a row. */
#define IDEM_ROWS 64

/* A lower-case hex digit's value plus one; 0 for any other byte. */
static const unsigned char hex1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static int
hexval(int c)
{
	return hex1[c] - 1;
}

bool
fs_idem_key(const char *id, size_t len, unsigned char bin[16])
{
	if (len != 36 || memcmp(id, "evt_", 4) != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		int hi = hexval((unsigned char)id[4 + 2 * i]), lo = hexval((unsigned char)id[5 + 2 * i]);

		if (hi < 0 || lo < 0)
			return false;
		bin[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* A word at a time, then murmur3's finaliser: ids need not be random (a
 * canonical one is a SHA-256 prefix, but made-up ones are not). */
static uint64_t
key_hash(const void *k, size_t len)
{
	const unsigned char *p = k;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	if (len > 0) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ h >> 33;
}

/* The slot of key k: its entry's (*found) or the empty one it would take. */
static size_t
slot_of(const struct fs_idem *ix, uint64_t h, bool canon, const void *k, size_t len, bool *found)
{
	size_t mask = ix->nslot - 1, i = (size_t)h & mask;
	uint32_t tag = (uint32_t)(h >> 32);

	for (;; i = (i + 1) & mask) {
		const struct idem_entry *e;

		if (ix->slot[i].entry == 0) {
			*found = false;
			return i;
		}
		if (ix->slot[i].tag != tag)
			continue;
		e = &ix->e[ix->slot[i].entry - 1];
		if (e->h == h && e->canon == canon && e->len == len &&
		    memcmp(canon ? e->bin : (const unsigned char *)ix->arena.data + e->off, k, len) == 0) {
			*found = true;
			return i;
		}
	}
}

static void
rehash(struct fs_idem *ix, size_t nslot)
{
	free(ix->slot);
	ix->nslot = nslot;
	ix->slot = fs_xmalloc(nslot * sizeof *ix->slot);
	memset(ix->slot, 0, nslot * sizeof *ix->slot);
	for (size_t j = 0; j < ix->n; j++) {
		size_t i = (size_t)ix->e[j].h & (nslot - 1);

		while (ix->slot[i].entry != 0)
			i = (i + 1) & (nslot - 1);
		ix->slot[i] = (struct idem_slot){(uint32_t)(j + 1), (uint32_t)(ix->e[j].h >> 32)};
	}
}

/* Adds a key not in the table; returns its entry. */
static struct idem_entry *
entry_add(struct fs_idem *ix, uint64_t h, bool canon, const void *k, size_t len)
{
	struct idem_entry *e;
	bool found;

	if (ix->n + 1 > ix->nslot / 2)
		rehash(ix, ix->nslot * 2);
	if (ix->n == ix->cap) {
		ix->cap = ix->cap ? ix->cap * 2 : 1024;
		ix->e = fs_xrealloc(ix->e, ix->cap * sizeof *ix->e);
	}
	ix->slot[slot_of(ix, h, canon, k, len, &found)] = (struct idem_slot){(uint32_t)(ix->n + 1), (uint32_t)(h >> 32)};
	e = &ix->e[ix->n++];
	memset(e, 0, sizeof *e);
	e->h = h;
	e->canon = canon;
	e->len = len;
	if (canon) {
		memcpy(e->bin, k, 16);
	} else {
		e->off = ix->arena.len;
		fs_buf_add(&ix->arena, k, len);
	}
	return e;
}

void
fs_idem_prefetch(const struct fs_idem *ix, const char *id, size_t len, struct fs_idem_probe *probe)
{
	probe->canon = fs_idem_key(id, len, probe->bin);
	probe->h = key_hash(probe->canon ? (const void *)probe->bin : id, probe->canon ? 16 : len);
	if (ix->nslot > 0)
		__builtin_prefetch(&ix->slot[(size_t)probe->h & (ix->nslot - 1)]);
}

/* The entry of an id, or NULL; *key and *klen say how it is stored. */
static struct idem_entry *
entry_find(struct fs_idem *ix, const char *id, size_t len, unsigned char bin[16], bool *canon, uint64_t *h)
{
	bool found;
	size_t i;

	*canon = fs_idem_key(id, len, bin);
	*h = key_hash(*canon ? (const void *)bin : id, *canon ? 16 : len);
	i = slot_of(ix, *h, *canon, *canon ? (const void *)bin : id, *canon ? 16 : len, &found);
	return found ? &ix->e[ix->slot[i].entry - 1] : NULL;
}

static bool
counts(const struct fs_idem *ix, const struct idem_entry *e)
{
	return e->mine || (e->final && e->first_seen > ix->now - ix->ttl);
}

static fs_stmt *
prepare(struct fs_state *st, const char *sql)
{
	return fs_state_prepare_new(st, sql, true);
}

static int
step_done(struct fs_state *st, fs_stmt *q)
{
	int rc = fs_stmt_step(q);

	fs_stmt_reset(q);
	fs_stmt_clear(q);
	if (rc != FS_DONE) {
		fs_state_error(st, NULL);
		return -1;
	}
	return 0;
}

/* Deletes the keys of runs first seen at or before now - ttl, batch rows a transaction. */
static int
prune(struct fs_idem *ix, int batch, int64_t *n)
{
	struct fs_state *st = ix->st;
	int64_t last = 0, upto;
	int found, rc;

	*n = 0;
	do {
		fs_stmt *q;

		if (fs_state_begin(st) != 0)
			return -1;
		q = fs_state_query(st, "SELECT seq FROM idem_store WHERE seq > ?1 AND run NOT IN"
				   " (SELECT run FROM idem_runs WHERE first_seen_ts > ?2) ORDER BY seq LIMIT ?3",
				   "iii", last, ix->now - ix->ttl, (int64_t)batch);
		if (q == NULL)
			goto fail;
		found = 0;
		upto = last;
		while ((rc = fs_state_step_row(st, q)) == 1) {
			upto = fs_col_int64(q, 0);
			found++;
		}
		if (rc < 0)
			goto fail;
		if (found > 0) {
			int64_t gone = fs_state_changes(st, "DELETE FROM idem_store WHERE seq > ?1 AND seq <= ?3"
				" AND run NOT IN (SELECT run FROM idem_runs WHERE first_seen_ts > ?2)",
				"iii", last, ix->now - ix->ttl, upto);

			if (gone < 0)
				goto fail;
			*n += gone;
		}
		if (fs_state_commit(st) != 0)
			goto fail;
		last = upto;
	} while (found >= batch);
	if (fs_state_begin(st) != 0)
		return -1;
	if (fs_state_run(st, "DELETE FROM idem_runs WHERE first_seen_ts <= ?", "i", ix->now - ix->ttl) != 0 ||
	    fs_state_commit(st) != 0)
		goto fail;
	return 0;
fail:
	fs_state_rollback(st);
	return -1;
}

struct run_time {
	int64_t run;
	fs_time first_seen;
};

static const struct run_time *
run_find(const struct run_time *r, size_t n, int64_t run)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r[mid].run == run)
			return &r[mid];
		if (r[mid].run < run)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A stored k as the table keeps it: 16 bytes, or an id's text (canonical ones too). */
static bool
column_key(fs_stmt *q, int col, unsigned char bin[16], const void **k, size_t *len)
{
	const void *p = fs_col_blob(q, col);
	size_t n = (size_t)fs_col_bytes(q, col);

	if (fs_col_type(q, col) == FS_COL_BLOB) {
		if (n != 16)
			return false;
		memcpy(bin, p, 16);
		*k = bin;
		*len = 16;
		return true;
	}
	if (fs_idem_key(p, n, bin)) {
		*k = bin;
		*len = 16;
		return true;
	}
	*k = p;
	*len = n;
	return false;
}

/* Reads the live keys; of two rows for one key the later one wins, unless only the earlier counts. */
static int
load(struct fs_idem *ix)
{
	struct fs_state *st = ix->st;
	struct run_time *runs = NULL;
	size_t nruns = 0;
	fs_stmt *q = fs_state_prepare(st, "SELECT run, first_seen_ts FROM idem_runs ORDER BY run");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		runs = fs_xrealloc(runs, (nruns + 1) * sizeof *runs);
		runs[nruns].run = fs_col_int64(q, 0);
		runs[nruns++].first_seen = fs_col_int64(q, 1);
	}
	if (rc < 0 || (q = fs_state_prepare(st, "SELECT seq, k, run, final FROM idem_store ORDER BY seq")) == NULL) {
		free(runs);
		return -1;
	}
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const struct run_time *r = run_find(runs, nruns, fs_col_int64(q, 2));
		unsigned char bin[16];
		const void *k;
		size_t len, i;
		bool canon, found;
		uint64_t h;
		struct idem_entry *e, fresh;

		if (r == NULL)	/* its run was pruned under it: it goes with the next prune */
			continue;
		canon = column_key(q, 1, bin, &k, &len);
		h = key_hash(k, len);
		fresh = (struct idem_entry){.seq = fs_col_int64(q, 0), .first_seen = r->first_seen,
					    .final = fs_col_int(q, 3) != 0};
		i = slot_of(ix, h, canon, k, len, &found);
		if (found) {
			e = &ix->e[ix->slot[i].entry - 1];
			if (counts(ix, e) && !counts(ix, &fresh))
				continue;
		} else {
			e = entry_add(ix, h, canon, k, len);
		}
		e->seq = fresh.seq;
		e->first_seen = fresh.first_seen;
		e->final = fresh.final;
	}
	free(runs);
	return rc;
}

/* Folds the marks fs_keys_finalize left into the store, batch a transaction. */
static int
fold(struct fs_idem *ix, int batch)
{
	struct fs_state *st = ix->st;
	int64_t last = 0;
	int found;

	do {
		fs_stmt *q;
		int rc;

		if (fs_state_begin(st) != 0)
			return -1;
		if ((q = fs_state_query(st, "SELECT rowid, k, upto FROM idem_final WHERE rowid > ? ORDER BY rowid LIMIT ?",
					"ii", last, (int64_t)batch)) == NULL)
			goto fail;
		found = 0;
		while ((rc = fs_state_step_row(st, q)) == 1) {
			unsigned char bin[16];
			const void *k;
			size_t len, i;
			bool canon = column_key(q, 1, bin, &k, &len), in;

			last = fs_col_int64(q, 0);
			found++;
			i = slot_of(ix, key_hash(k, len), canon, k, len, &in);
			if (in) {
				struct idem_entry *e = &ix->e[ix->slot[i].entry - 1];

				if (!e->final && e->seq <= fs_col_int64(q, 2)) {
					e->final = true;
					fs_bind_int64(ix->fin, 1, e->seq);
					if (step_done(st, ix->fin) != 0) {
						fs_stmt_reset(q);
						goto fail;
					}
				}
			}
		}
		if (rc < 0)
			goto fail;
		if (fs_state_run(st, "DELETE FROM idem_final WHERE rowid <= ?", "i", last) != 0 ||
		    fs_state_commit(st) != 0)
			goto fail;
	} while (found >= batch);
	return 0;
fail:
	fs_state_rollback(st);
	return -1;
}

struct fs_idem *
fs_idem_open(struct fs_state *st, fs_time now, int64_t ttl, const char *run_id, int batch, int64_t *pruned)
{
	struct fs_idem *ix = fs_xmalloc(sizeof *ix);

	memset(ix, 0, sizeof *ix);
	ix->st = st;
	ix->now = now;
	ix->ttl = ttl;
	ix->run_id = run_id;
	rehash(ix, 1024);
	if ((ix->del = prepare(st, "DELETE FROM idem_store WHERE seq = ?")) == NULL ||
	    (ix->fin = prepare(st, "UPDATE idem_store SET final = 1 WHERE seq = ?")) == NULL ||
	    prune(ix, batch, pruned) != 0 || load(ix) != 0 || fold(ix, batch) != 0) {
		fs_idem_free(ix);
		return NULL;
	}
	return ix;
}

void
fs_idem_free(struct fs_idem *ix)
{
	if (ix == NULL)
		return;
	for (size_t k = 0; k < sizeof ix->ins / sizeof ix->ins[0]; k++)
		fs_stmt_free(ix->ins[k]);
	free(ix->pend);
	fs_stmt_free(ix->del);
	fs_stmt_free(ix->fin);
	free(ix->e);
	free(ix->slot);
	fs_buf_free(&ix->arena);
	free(ix);
}

int
fs_idem_check(struct fs_idem *ix, const char *id, size_t len)
{
	struct fs_idem_probe probe;

	probe.canon = fs_idem_key(id, len, probe.bin);
	probe.h = key_hash(probe.canon ? (const void *)probe.bin : id, probe.canon ? 16 : len);
	return fs_idem_check_probe(ix, &probe, id, len);
}

int
fs_idem_check_probe(struct fs_idem *ix, const struct fs_idem_probe *probe, const char *id, size_t len)
{
	bool canon = probe->canon, found;
	uint64_t h = probe->h;
	const unsigned char *bin = probe->bin;
	size_t i = slot_of(ix, h, canon, canon ? (const void *)bin : id, canon ? 16 : len, &found);
	struct idem_entry *e = found ? &ix->e[ix->slot[i].entry - 1] : NULL;
	int64_t old = 0;

	if (e != NULL && counts(ix, e))
		return 0;
	if (e != NULL)		/* re-armed: the old row goes */
		old = e->seq;
	else
		e = entry_add(ix, h, canon, canon ? (const void *)bin : id, canon ? 16 : len);
	e->seq = 0;
	e->first_seen = ix->now;
	e->final = false;
	e->mine = true;
	if (ix->npend == ix->cappend) {
		ix->cappend = ix->cappend ? ix->cappend * 2 : IDEM_ROWS;
		ix->pend = fs_xrealloc(ix->pend, ix->cappend * sizeof *ix->pend);
	}
	ix->pend[ix->npend++] = (struct pending){(uint32_t)(e - ix->e), old};
	return 1;
}

static void
bind_key(fs_stmt *q, int i, const struct fs_idem *ix, const struct idem_entry *e)
{
	if (e->canon && q->pg) {
		/* PostgreSQL's k is text (lib/schema_pg.c): the id's own text. */
		char t[37];

		memcpy(t, "evt_", 4);
		for (int b = 0; b < 16; b++) {
			t[4 + 2 * b] = "0123456789abcdef"[e->bin[b] >> 4];
			t[5 + 2 * b] = "0123456789abcdef"[e->bin[b] & 15];
		}
		fs_bind_text_n(q, i, t, 36);
	} else if (e->canon)
		fs_bind_blob(q, i, e->bin, 16);
	else
		fs_bind_text_n(q, i, ix->arena.data + e->off, e->len);
}

/* The statement that writes n keys of one run (its parameter n + 1). */
static fs_stmt *
insert_rows(struct fs_state *st, size_t n)
{
	struct fs_buf sql = {0};
	fs_stmt *q;

	fs_buf_addf(&sql, "INSERT INTO idem_store (k, run) VALUES (?1, ?%zu)", n + 1);
	for (size_t i = 2; i <= n; i++)
		fs_buf_addf(&sql, ", (?%zu, ?%zu)", i, n + 1);
	q = prepare(st, sql.data);
	fs_buf_free(&sql);
	return q;
}

int
fs_idem_flush(struct fs_idem *ix)
{
	struct fs_state *st = ix->st;
	size_t i = 0;

	if (ix->npend == 0)
		return 0;
	if (ix->run == 0) {
		if (fs_state_run(st, "INSERT INTO idem_runs (run_id, first_seen_ts, ttl) VALUES (?, ?, ?)",
				 "sii", ix->run_id, ix->now, ix->ttl) != 0)
			return -1;
		ix->run = fs_state_last_id(st);
	}
	while (i < ix->npend) {
		/* One statement writes n rows with consecutive seqs (this
		 * connection holds the write lock): the most rows a statement
		 * of ins[] writes that are left. */
		size_t k = 0, n;
		fs_stmt *q;
		int64_t last;

		while ((size_t)IDEM_ROWS >> k > ix->npend - i)
			k++;
		n = (size_t)IDEM_ROWS >> k;
		if ((q = ix->ins[k]) == NULL && (q = ix->ins[k] = insert_rows(st, n)) == NULL)
			return -1;

		for (size_t j = 0; j < n; j++)
			bind_key(q, (int)j + 1, ix, &ix->e[ix->pend[i + j].entry]);
		fs_bind_int64(q, (int)n + 1, ix->run);
		if (step_done(st, q) != 0)
			return -1;
		last = fs_state_last_id(st);
		for (size_t j = 0; j < n; j++) {
			struct pending *p = &ix->pend[i + j];

			ix->e[p->entry].seq = last - (int64_t)(n - 1 - j);
			if (p->old != 0) {
				fs_bind_int64(ix->del, 1, p->old);
				if (step_done(st, ix->del) != 0)
					return -1;
			}
		}
		i += n;
	}
	ix->npend = 0;
	return 0;
}

int
fs_idem_record(struct fs_idem *ix, const char *id, size_t len)
{
	int rc = fs_idem_check(ix, id, len);

	return rc > 0 && fs_idem_flush(ix) != 0 ? -1 : rc;
}

int
fs_idem_finalize(struct fs_idem *ix, const char *id, size_t len)
{
	unsigned char bin[16];
	bool canon;
	uint64_t h;
	struct idem_entry *e;

	if (fs_idem_flush(ix) != 0)
		return -1;
	if ((e = entry_find(ix, id, len, bin, &canon, &h)) == NULL || e->final || !e->mine)
		return 0;
	fs_bind_int64(ix->fin, 1, e->seq);
	if (step_done(ix->st, ix->fin) != 0)
		return -1;
	e->final = true;
	return 0;
}

bool
fs_idem_final(struct fs_idem *ix, const char *id)
{
	unsigned char bin[16];
	bool canon;
	uint64_t h;
	struct idem_entry *e = entry_find(ix, id, strlen(id), bin, &canon, &h);

	return e != NULL && e->final;
}

int
fs_hold_add(struct fs_state *st, const struct fs_hold_new *h)
{
	char at[21], until[21];
	int64_t n;

	fs_time_format(h->now, at);
	fs_time_format(h->release_at, until);
	n = fs_state_changes(st,
	    "INSERT INTO debounce (kind, object, event_id, source, collapse, line, received_at, release_at)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
	    "ssssstss", h->kind, h->object, h->event_id, h->source ? h->source : "", h->collapse, h->line, h->len,
	    at, until);
	return n < 0 ? -1 : n > 0;
}

struct hold_list {
	struct fs_hold *h;
	int n;
};

static void
holds_free(struct hold_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free((char *)l->h[i].kind);
		free((char *)l->h[i].object);
		free((char *)l->h[i].event_id);
		free((char *)l->h[i].line);
	}
	free(l->h);
	l->h = NULL;
	l->n = 0;
}

static bool
same_host(const char *host)
{
	char me[256] = "";

	gethostname(me, sizeof me - 1);
	return host && strcmp(host, me) == 0;
}

/*
 * Whether the run that released a hold is gone without its key confirmed.
 * On this host its process tells; from another host only time does, and a
 * hold released an hour ago whose key is still open was lost downstream.
 */
static bool
releaser_gone(fs_stmt *q, int col, fs_time now)
{
	const char *at = fs_col_text(q, col);
	int64_t pid = fs_col_int64(q, col + 1);
	const char *host = fs_col_text(q, col + 2);
	fs_time t;

	if (same_host(host) && pid > 0)
		return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
	return at == NULL || fs_time_parse(at, &t) != 0 || now - t >= 3600;
}

/* Reads (id, kind, object, event_id, line[, released_at, pid, host]) rows into
 * l; with gone_after, only the holds whose releaser is gone. */
static int
holds_read(struct fs_state *st, fs_stmt *q, struct hold_list *l, const fs_time *gone_after)
{
	int rc;

	while ((rc = fs_state_step_row(st, q)) == 1) {
		struct fs_hold *h;

		if (gone_after && !releaser_gone(q, 5, *gone_after))
			continue;
		l->h = fs_xrealloc(l->h, (size_t)(l->n + 1) * sizeof *l->h);
		h = &l->h[l->n++];
		h->id = fs_col_int64(q, 0);
		h->kind = fs_col_dup(q, 1);
		h->object = fs_col_dup(q, 2);
		h->event_id = fs_col_dup(q, 3);
		h->len = (size_t)fs_col_bytes(q, 4);
		h->line = fs_xmalloc(h->len + 1);
		if (h->len > 0)	/* an empty blob reads as NULL */
			memcpy((char *)h->line, fs_col_blob(q, 4), h->len);
		((char *)h->line)[h->len] = '\0';
	}
	return rc;
}

/* Hands each hold to fn: kept as released by this run when fn says 1, deleted when 0. */
static int
holds_emit(struct fs_state *st, struct hold_list *l, const char *run_id, const char *now, fs_hold_fn fn,
	   void *ctx)
{
	char host[256] = "";

	gethostname(host, sizeof host - 1);
	for (int i = 0; i < l->n; i++) {
		int keep = fn(&l->h[i], ctx);

		if (keep < 0)
			return -1;
		if ((keep ? fs_state_run(st, "UPDATE debounce SET released_by = ?2, released_at = ?3, released_pid = ?4,"
					 " released_host = ?5 WHERE id = ?1", "issis", l->h[i].id, run_id, now,
					 (int64_t)getpid(), host)
		     : fs_state_run(st, "DELETE FROM debounce WHERE id = ?1", "i", l->h[i].id)) != 0)
			return -1;
	}
	return 0;
}

/* A source's released holds whose key the end of the pipeline confirmed are done. */
static int
holds_done(struct fs_state *st, struct fs_idem *ix, const char *source)
{
	fs_stmt *q = fs_state_query(st, "SELECT id, event_id FROM debounce INDEXED BY debounce_by_source"
					 " WHERE source IN (?1, '') AND released_by IS NOT NULL", "s", source);
	int64_t *done = NULL;
	size_t n = 0;
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1)
		if (fs_idem_final(ix, fs_col_text(q, 1))) {
			done = fs_xrealloc(done, (n + 1) * sizeof *done);
			done[n++] = fs_col_int64(q, 0);
		}
	if (rc < 0) {
		free(done);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (fs_state_run(st, "DELETE FROM debounce WHERE id = ?1", "i", done[i]) != 0) {
			free(done);
			return -1;
		}
	free(done);
	return 0;
}

int
fs_holds_release(struct fs_state *st, struct fs_idem *ix, fs_time now, const char *run_id, const char *source,
		 fs_hold_fn fn, void *ctx, long *collapsed)
{
	struct hold_list l = {0};
	fs_stmt *q;
	char at[21];

	*collapsed = 0;
	fs_time_format(now, at);
	if (holds_done(st, ix, source) != 0)
		return -1;
	/* Released by a run that is gone, its key never confirmed: again. */
	q = fs_state_query(st,
	    "SELECT id, kind, object, event_id, line, released_at, released_pid, released_host FROM debounce"
	    " INDEXED BY debounce_by_source WHERE source IN (?1, '') AND released_by IS NOT NULL"
	    " AND released_by != ?2 ORDER BY id", "ss", source, run_id);
	if (q == NULL)
		return -1;
	if (holds_read(st, q, &l, &now) != 0 || holds_emit(st, &l, run_id, at, fn, ctx) != 0)
		goto fail;
	holds_free(&l);
	/* The due holds in order: of each quiet collapse key the last, the
	 * earlier ones collapsing into it; each hold that never collapses. */
	q = fs_state_query(st,
	    "SELECT d.id, d.kind, d.object, d.event_id, d.line FROM debounce d JOIN"
	    " (SELECT max(id) AS last, min(id) AS first FROM debounce WHERE source IN (?2, '')"
	    "   AND released_by IS NULL AND collapse IS NOT NULL GROUP BY source, collapse"
	    "   HAVING max(release_at) <= ?1"
	    "  UNION ALL SELECT id, id FROM debounce WHERE source IN (?2, '') AND released_by IS NULL"
	    "   AND collapse IS NULL AND release_at <= ?1) g ON d.id = g.last ORDER BY g.first", "ss", at, source);
	if (q == NULL)
		return -1;
	if (holds_read(st, q, &l, NULL) != 0)
		goto fail;
	for (int i = 0; i < l.n; i++) {
		int64_t n = fs_state_changes(st,
		    "DELETE FROM debounce WHERE collapse = (SELECT collapse FROM debounce WHERE id = ?1)"
		    " AND source = (SELECT source FROM debounce WHERE id = ?1) AND id < ?1 AND released_by IS NULL",
		    "i", l.h[i].id);

		if (n < 0)
			goto fail;
		*collapsed += n;
	}
	if (holds_emit(st, &l, run_id, at, fn, ctx) != 0)
		goto fail;
	holds_free(&l);
	return 0;
fail:
	holds_free(&l);
	return -1;
}

int
fs_holds_count(struct fs_state *st, int64_t *n)
{
	fs_stmt *q = fs_state_prepare(st, "SELECT count(*) FROM debounce WHERE released_by IS NULL");

	*n = 0;
	if (q == NULL)
		return -1;
	return fs_state_get_int(st, q, n) < 0 ? -1 : 0;
}

/*
 * A request that never became a piece (suppressed before any send) gives
 * its subject's enrolment back: a later entry, once the contact is off the
 * list, is a first one, not a re-entry.
 */
int
fs_unenrol(struct fs_state *st, const char *subject, const char *goal, const char *event_id)
{
	if (fs_state_run(st, "DELETE FROM active_enrolments WHERE subject = ? AND goal = ? AND event_id = ?",
			 "sss", subject, goal, event_id) != 0)
		return -1;
	return fs_state_run(st, "DELETE FROM enrolments WHERE event_id = ?", "s", event_id);
}

int
fs_enrol(struct fs_state *st, const struct fs_enrol_req *r, struct fs_enrolment *e)
{
	char at[21], until[21];
	int64_t took;
	fs_stmt *q;
	int rc;

	memset(e, 0, sizeof *e);
	fs_time_format(r->now, at);
	fs_time_format(r->now + r->active, until);
	/* Re-entry: the subject's last enrolment in this campaign, by another
	 * event, started less than r->reentry ago (or at all, with never). */
	q = fs_state_query(st,
	    "SELECT event_id, campaign, started_at, active_until FROM enrolments WHERE contact_id = ?"
	    " AND campaign = ? AND event_id != ? ORDER BY started_at DESC, id DESC LIMIT 1",
	    "sss", r->subject, r->campaign, r->event_id);
	if (q == NULL || (rc = fs_state_step_row(st, q)) < 0)
		return -1;
	if (rc == 1) {
		fs_time started = 0;

		fs_time_parse(fs_col_text(q, 2), &started);
		if (r->reentry < 0 || started > r->now - r->reentry) {
			e->event_id = fs_col_dup(q, 0);
			e->campaign = fs_col_dup(q, 1);
			e->started_at = fs_col_dup(q, 2);
			e->active_until = fs_col_dup(q, 3);
			fs_stmt_reset(q);
			return 2;
		}
		fs_stmt_reset(q);
	}
	/* The whole guard: the row is taken when free, or when its holder's
	 * time is up; one statement, so no other run can come in between. */
	took = fs_state_changes(st,
	    "INSERT INTO active_enrolments (subject, goal, event_id, campaign, started_at, active_until)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (subject, goal) DO UPDATE SET"
	    " event_id = excluded.event_id, campaign = excluded.campaign, started_at = excluded.started_at,"
	    " active_until = excluded.active_until"
	    " WHERE active_enrolments.active_until <= excluded.started_at AND active_enrolments.event_id != excluded.event_id",
	    "ssssss", r->subject, r->goal, r->event_id, r->campaign, at, until);
	if (took < 0)
		return -1;
	if (took > 0)
		return fs_state_run(st,
		    "INSERT INTO enrolments (contact_id, goal, campaign, event_id, run_id, started_at, active_until, final)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (event_id) DO NOTHING",
		    "sssssss", r->subject, r->goal, r->campaign, r->event_id, r->run_id, at, until) == 0 ? 1 : -1;
	q = fs_state_query(st, "SELECT event_id, campaign, started_at, active_until FROM active_enrolments"
			   " WHERE subject = ? AND goal = ?", "ss", r->subject, r->goal);
	if (q == NULL || (rc = fs_state_step_row(st, q)) < 0)
		return -1;
	if (rc == 0)
		return -1;	/* cannot be: the upsert left a row */
	e->event_id = fs_col_dup(q, 0);
	e->campaign = fs_col_dup(q, 1);
	e->started_at = fs_col_dup(q, 2);
	e->active_until = fs_col_dup(q, 3);
	fs_stmt_reset(q);
	return strcmp(e->event_id, r->event_id) == 0;	/* enrolled already by this very event */
}

void
fs_enrolment_free(struct fs_enrolment *e)
{
	free(e->event_id);
	free(e->campaign);
	free(e->started_at);
	free(e->active_until);
	memset(e, 0, sizeof *e);
}

int
fs_dedupe_count(struct fs_state *st, fs_time now, const char *what, long n)
{
	char day[21];

	if (n == 0)
		return 0;
	fs_time_format(now, day);
	day[10] = '\0';
	return fs_state_run(st, "INSERT INTO dedupe_counts (day, what, n) VALUES (?, ?, ?)"
			    " ON CONFLICT (day, what) DO UPDATE SET n = dedupe_counts.n + excluded.n", "ssi", day, what, (int64_t)n);
}

int
fs_duplicate_set_store(struct fs_state *st, const char *scan_id, const char *members, double score,
		       const char *reasons, fs_time now)
{
	char at[21];

	fs_time_format(now, at);
	return fs_state_run(st, "INSERT INTO duplicate_sets (scan_id, members, score, reasons, at) VALUES (?, ?, ?, ?, ?)",
			    "ssdss", scan_id, members, score, reasons, at);
}

int
fs_contacts_each(struct fs_state *st, fs_contact_fn fn, void *ctx)
{
	fs_stmt *q = fs_state_prepare(st,
	    "SELECT id, email, phone, first_name, last_name, line1, city, region, postal_code, seen_at"
	    " FROM contacts ORDER BY id");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = fs_state_step_row(st, q)) == 1) {
		const char *f[FS_CONTACT_NFIELDS];

		for (int i = 0; i < FS_CONTACT_NFIELDS; i++)
			f[i] = fs_col_text(q, i);
		if (fn(f, ctx) != 0) {
			fs_stmt_reset(q);
			return -1;
		}
	}
	return rc;
}
