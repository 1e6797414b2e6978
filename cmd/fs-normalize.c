/*
 * fs-normalize: map vendor records onto canonical events, validate them,
 * and fire campaign triggers.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync.h"

struct map_entry {
	char *source, *stream;
	struct fs_map *map;	/* NULL: none could be loaded (why says so) */
	char *why;
	struct fs_counts reads;	/* every path the map reads, for drift */
	const char **need;	/* the paths it expects to be present */
	int nneed;
	bool fast;		/* the built-in HubSpot contact map: the hot path may take it */
};

/* The hot path's buffers, reused from line to line. */
struct fast {
	struct fs_jtree tree;
	struct fs_contact_out out;
	struct fs_buf text, line, path;
	char *unmapped[16];
	int nunmapped;
};

struct campaign {
	const char *name, *goal, *format, *template, *back, *from;
	char *field;
	char **values;		/* trigger matches any of these */
	int nvalues;
};

struct normalize {
	struct fs_cli *cli;
	const char *source_opt, *map_opt;
	bool keep_raw, strict;
	struct map_entry *maps;
	int nmaps;
	struct campaign *campaigns;
	int ncampaigns;
	struct fs_counts unmapped, absent;
	long records, events, requests;
	struct fast fast;
};

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-normalize [-qvV] [-c config] [-s state] [--commit] [--keep-raw]\n"
		   "                    [--map file] [--print-config] [--source name] [--strict]\n");
	exit(status);
}

static const char *
default_stream(const char *kind)
{
	if (strcmp(kind, "hubspot") == 0)
		return "contacts";
	if (strcmp(kind, "csv") == 0)
		return "rows";
	return "events";
}

/* $source inside a map: the source's settings that are safe to show, defaults included. */
static jv
map_args(const struct fs_endpoint *ep)
{
	jv args = jv_object();
	const char *v;

	args = jv_object_set(args, jv_string("name"), jv_string(ep->name));
	args = jv_object_set(args, jv_string("kind"), jv_string(ep->kind));
	for (const struct fs_setting *s = fs_settings; s->section; s++)
		if (fs_setting_applies(s, ep) && fs_is_safe_key(s->key) && (v = fs_setting(ep, s->key)) != NULL)
			args = jv_object_set(args, jv_string(s->key), jv_string(v));
	for (int i = 0; ep->sec && i < ep->sec->nkv; i++)	/* map.NAME of a csv source */
		if (fs_is_safe_key(ep->sec->kv[i].key))
			args = jv_object_set(args, jv_string(ep->sec->kv[i].key),
					     jv_string(ep->sec->kv[i].value));
	return args;
}

static struct map_entry *
map_for(struct normalize *n, const char *source, const char *stream)
{
	struct fs_endpoint ep;
	struct map_entry *e;
	char *path = NULL, key[128];
	const char *name;

	for (int i = 0; i < n->nmaps; i++)
		if (strcmp(n->maps[i].source, source) == 0 &&
		    strcmp(n->maps[i].stream, stream ? stream : "") == 0)
			return &n->maps[i];
	n->maps = fs_xrealloc(n->maps, (size_t)(n->nmaps + 1) * sizeof *n->maps);
	e = &n->maps[n->nmaps++];
	memset(e, 0, sizeof *e);
	e->source = fs_xstrdup(source);
	e->stream = fs_xstrdup(stream ? stream : "");
	/* fs_endpoint_find complains on stderr; the DLQ reason says it again. */
	if (fs_endpoint_find(&n->cli->cfg, "source", source, &ep) != 0) {
		e->why = fs_xasprintf("unknown source \"%s\"", source);
		return e;
	}
	if (stream == NULL)
		stream = default_stream(ep.kind);
	/* map.STREAM, else map, else the kind's shipped map for the stream
	 * (map.* for a stream of no name: the shipped map for other streams). */
	snprintf(key, sizeof key, "map.%s", *stream ? stream : "*");
	if ((name = n->map_opt) == NULL)
		name = fs_setting(&ep, key);
	if ((path = fs_map_find(name)) == NULL) {
		e->why = fs_xasprintf("no map '%s' for source \"%s\" stream \"%s\"", name, source, stream);
		return e;
	}
	if ((e->map = fs_map_load(path, map_args(&ep))) == NULL) {
		e->why = fs_xasprintf("map '%s' does not compile", path);
	} else {
		int nreads;
		const char *const *r = fs_map_reads(e->map, &nreads);

		for (int i = 0; i < nreads; i++) {
			const char *p = r[i][0] == '?' ? r[i] + 1 : r[i];

			*fs_counts_at(&e->reads, p, strlen(p), true) = 1;
			if (r[i][0] != '?' && strchr(p, '*') == NULL) {
				e->need = fs_xrealloc(e->need, (size_t)(e->nneed + 1) * sizeof *e->need);
				e->need[e->nneed++] = p;
			}
		}
		e->fast = fs_map_builtin(e->map) && strcmp(fs_map_builtin(e->map), "hubspot-contact") == 0 &&
			  nreads > 0;
	}
	free(path);
	return e;
}

/* Drift: which input fields the map never reads, which of its paths are absent. */
static bool
covered(struct fs_counts *reads, const char *path)
{
	char buf[1024];
	size_t n = strlen(path);

	if (n >= sizeof buf - 2)
		return true;
	memcpy(buf, path, n + 1);
	for (;;) {
		char *dot;

		if (fs_counts_at(reads, buf, strlen(buf), false))
			return true;
		if ((dot = strrchr(buf, '.')) == NULL)
			return false;
		strcpy(dot + 1, "*");
		if (fs_counts_at(reads, buf, strlen(buf), false))
			return true;
		*dot = '\0';
	}
}

static void
leaf_paths(jv v, struct fs_buf *path, struct fs_counts *reads, struct fs_counts *found, int *nfound)
{
	if (jv_get_kind(v) == JV_KIND_OBJECT && jv_object_length(jv_copy(v)) > 0) {
		jv_object_foreach(v, key, val) {
			size_t mark = path->len;

			fs_buf_addc(path, '.');
			fs_buf_adds(path, jv_string_value(key));
			leaf_paths(val, path, reads, found, nfound);
			path->len = mark;
			path->data[mark] = '\0';
			jv_free(key);
		}
		jv_free(v);
		return;
	}
	jv_free(v);
	if (!covered(reads, path->data)) {
		(*fs_counts_at(found, path->data, path->len, true))++;
		(*nfound)++;
	}
}

/* Counts drift for one record; returns how much there was, with the first in why. */
static int
drift(struct normalize *n, struct map_entry *me, jv record, struct fs_buf *why)
{
	struct fs_counts unmapped = {0};
	struct fs_buf path = {0};
	int count = 0;

	for (int i = 0; i < me->nneed; i++) {
		const char *p = me->need[i];
		jv v = fs_jget_path(record, p);

		if (!jv_is_valid(v)) {
			(*fs_counts_at(&n->absent, p, strlen(p), true))++;
			if (count++ == 0)
				fs_buf_addf(why, "map path \"%s\" is absent", p);
		}
		jv_free(v);
	}
	if (me->reads.len > 0) {
		int found = 0;

		fs_buf_adds(&path, "data");
		leaf_paths(fs_jget(record, "data"), &path, &me->reads, &unmapped, &found);
		for (size_t i = 0; i < unmapped.cap; i++)
			if (unmapped.e[i].key) {
				(*fs_counts_at(&n->unmapped, unmapped.e[i].key, strlen(unmapped.e[i].key), true))++;
				if (count++ == 0)
					fs_buf_addf(why, "unmapped field \"%s\"", unmapped.e[i].key);
			}
	}
	fs_buf_free(&path);
	fs_counts_free(&unmapped);
	return count;
}

static int
by_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* With -v, one summary line, then every path, sorted, with its count (the
 * run's changelog row keeps the two numbers). */
static void
report_drift(struct normalize *n)
{
	struct fs_counts *sets[] = {&n->unmapped, &n->absent};
	const char *what[] = {"field \"%s\" is not read by the map (%ld records)",
			      "map path \"%s\" is absent (%ld records)"};

	if (n->unmapped.len == 0 && n->absent.len == 0)
		return;
	fs_debug("drift: %zu unmapped field%s, %zu absent map path%s", n->unmapped.len,
		 n->unmapped.len == 1 ? "" : "s", n->absent.len, n->absent.len == 1 ? "" : "s");
	for (int k = 0; k < 2 && fs_verbosity >= 2; k++) {
		char **keys = fs_xmalloc(sets[k]->len * sizeof *keys);
		size_t m = 0;

		for (size_t i = 0; i < sets[k]->cap; i++)
			if (sets[k]->e[i].key)
				keys[m++] = sets[k]->e[i].key;
		qsort(keys, m, sizeof *keys, by_key);
		for (size_t i = 0; i < m; i++)
			fs_debug(what[k], keys[i], *fs_counts_at(sets[k], keys[i], strlen(keys[i]), false));
		free(keys);
	}
}

/* Canonical time fields are rewritten as "YYYY-MM-DDTHH:MM:SSZ". */
static jv
canonical_time(jv obj, const char *key)
{
	const char *s = fs_jstr(obj, key);
	char out[21];
	fs_time t;

	if (s == NULL || fs_time_parse(s, &t) != 0)
		return obj;
	fs_time_format(t, out);
	return jv_object_set(obj, jv_string(key), jv_string(out));
}

static int
fill_mail_status(struct normalize *n, jv *data)
{
	const char *vendor_id = fs_jstr(*data, "vendor_id");
	char *status = NULL;

	if (fs_jstr(*data, "status") != NULL || vendor_id == NULL)
		return 0;
	/* An event name the map does not know keeps the piece's status. */
	if (fs_piece_status(&n->cli->st, vendor_id, &status) != 0)
		return -1;
	*data = jv_object_set(*data, jv_string("status"), jv_string(status ? status : "queued"));
	free(status);
	return 0;
}

static jv
make_event(struct normalize *n, const char *source, const char *kind, const char *object,
	   const char *version, jv occurred_at, jv data, jv raw)
{
	char id[40];
	jv ev = jv_object();

	fs_event_id(source, object, kind, version, id);
	ev = jv_object_set(ev, jv_string("type"), jv_string("event"));
	ev = jv_object_set(ev, jv_string("id"), jv_string(id));
	ev = jv_object_set(ev, jv_string("run_id"), jv_string(n->cli->run_id));
	ev = jv_object_set(ev, jv_string("source"), jv_string(source));
	ev = jv_object_set(ev, jv_string("kind"), jv_string(kind));
	ev = jv_object_set(ev, jv_string("object"), object ? jv_string(object) : jv_null());
	ev = jv_object_set(ev, jv_string("occurred_at"), occurred_at);
	ev = canonical_time(ev, "occurred_at");
	data = canonical_time(canonical_time(data, "updated_at"), "at");
	ev = jv_object_set(ev, jv_string("data"), data);
	if (n->keep_raw && jv_is_valid(raw))
		ev = jv_object_set(ev, jv_string("raw"), raw);
	else
		jv_free(raw);
	return ev;
}

static bool
trigger_matches(const struct campaign *c, jv data)
{
	const char *v = fs_jstr(data, c->field);

	for (int i = 0; v && i < c->nvalues; i++)
		if (strcmp(v, c->values[i]) == 0)
			return true;
	return false;
}

static jv
mailing_address(jv contact)
{
	jv a = fs_jget(contact, "address"), to = jv_object();
	const char *first = fs_jstr(contact, "first_name"), *last = fs_jstr(contact, "last_name");
	const char *company = fs_jstr(contact, "company");
	static const char *const keys[] = {"line1", "line2", "city", "region", "postal_code", "country", NULL};

	if (first || last)
		to = jv_object_set(to, jv_string("name"), jv_string_fmt("%s%s%s", first ? first : "",
			first && last ? " " : "", last ? last : ""));
	else if (company)
		to = jv_object_set(to, jv_string("name"), jv_string(company));
	for (int i = 0; keys[i]; i++) {
		const char *v = fs_jstr(a, keys[i]);

		if (v)
			to = jv_object_set(to, jv_string(keys[i]), jv_string(v));
	}
	jv_free(a);
	return to;
}

/* contact.changed: remember the contact, then fire each matching trigger. */
static int
fire_triggers(struct normalize *n, struct fs_loop *lp, struct fs_line *ln, jv ev)
{
	jv data = fs_jget(ev, "data");
	const char *source = fs_jstr(ev, "source"), *object = fs_jstr(ev, "object");
	const char *version = fs_jstr(data, "updated_at");
	char *from = NULL;
	int rc = 0;

	if (fs_loop_txn(lp) != 0 || fs_contact_observe(&n->cli->st, source, data, &from) != 0) {
		jv_free(data);
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	for (int i = 0; i < n->ncampaigns && rc == 0; i++) {
		const struct campaign *c = &n->campaigns[i];
		struct fs_buf why = {0};
		char *ver;
		jv req, trig, mail;

		if (!trigger_matches(c, data))
			continue;
		req = jv_object();
		trig = jv_object();
		trig = jv_object_set(trig, jv_string("field"), jv_string(c->field));
		trig = jv_object_set(trig, jv_string("from"), from ? jv_string(from) : jv_null());
		trig = jv_object_set(trig, jv_string("to"), jv_string(fs_jstr(data, c->field)));
		req = jv_object_set(req, jv_string("contact_id"), jv_string(fs_jstr(data, "id")));
		req = jv_object_set(req, jv_string("campaign"), jv_string(c->name));
		req = jv_object_set(req, jv_string("goal"), jv_string(c->goal));
		req = jv_object_set(req, jv_string("format"), jv_string(c->format));
		if (c->template)
			req = jv_object_set(req, jv_string("template"), jv_string(c->template));
		if (c->back)
			req = jv_object_set(req, jv_string("back"), jv_string(c->back));
		if (c->from)
			req = jv_object_set(req, jv_string("from"), jv_string(c->from));
		req = jv_object_set(req, jv_string("to"), mailing_address(data));
		req = jv_object_set(req, jv_string("trigger"), trig);
		ver = fs_xasprintf("%s@%s", c->name, version ? version : "");
		mail = make_event(n, source, "mail.requested", object, ver,
				  fs_jget(ev, "occurred_at"), req, jv_invalid());
		free(ver);
		if (fs_event_validate(mail, &why) != 0) {
			rc = fs_reject(lp, ln, fs_jstr(mail, "id"), "mail.requested for campaign \"%s\": %s",
				       c->name, why.data);
			jv_free(mail);
		} else {
			n->requests++;
			fs_emit(lp, mail);
		}
		fs_buf_free(&why);
	}
	free(from);
	jv_free(data);
	return rc;
}

static int
on_record(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct normalize *n = ctx;
	const char *source = ln->type ? fs_jstr(ln->obj, "source") : n->source_opt;
	const char *stream = ln->type ? fs_jstr(ln->obj, "stream") : NULL;
	struct map_entry *me;
	struct fs_buf why = {0};
	jv input, out, data;
	int rc = 0;

	n->records++;
	if (source == NULL)
		return fs_reject(lp, ln, NULL, "missing \"source\"");
	data = ln->type ? fs_jget(ln->obj, "data") : jv_copy(ln->obj);
	if (jv_get_kind(data) != JV_KIND_OBJECT) {
		jv_free(data);
		return fs_reject(lp, ln, NULL, jv_is_valid(data) ? "\"data\" is not an object" : "missing \"data\"");
	}
	me = map_for(n, source, stream);
	if (me->map == NULL) {
		jv_free(data);
		return fs_reject(lp, ln, NULL, "%s", me->why);
	}
	if (ln->type) {
		input = jv_copy(ln->obj);
		jv_free(data);
	} else {
		input = jv_object_set(jv_object(), jv_string("type"), jv_string("record"));
		input = jv_object_set(input, jv_string("source"), jv_string(source));
		input = jv_object_set(input, jv_string("data"), data);
	}
	if (drift(n, me, input, &why) > 0 && n->strict) {
		rc = fs_reject(lp, ln, NULL, "%s", why.data);
		fs_buf_free(&why);
		jv_free(input);
		return rc;
	}
	fs_buf_free(&why);
	out = fs_map_run(me->map, jv_copy(input));
	if (!jv_is_valid(out)) {
		jv msg = jv_invalid_get_msg(out);

		rc = fs_reject(lp, ln, NULL, "%s", jv_string_value(msg));
		jv_free(msg);
		jv_free(input);
		return rc;
	}
	jv_array_foreach(out, i, o) {
		const char *kind = fs_jstr(o, "kind"), *object = fs_jstr(o, "object");
		jv version = fs_jget(o, "version");
		jv vtext = jv_get_kind(version) == JV_KIND_STRING ? jv_copy(version)
			 : jv_get_kind(version) == JV_KIND_NUMBER ? jv_dump_string(jv_copy(version), 0) : jv_invalid();
		jv d = fs_jget(o, "data"), ev;

		if (rc != 0 || jv_get_kind(o) != JV_KIND_OBJECT) {
			if (rc == 0)
				rc = fs_reject(lp, ln, NULL, "map error: output is not an object");
			jv_free(version), jv_free(vtext), jv_free(d), jv_free(o);
			continue;
		}
		if (kind && strcmp(kind, "mail.status") == 0 && jv_get_kind(d) == JV_KIND_OBJECT &&
		    fill_mail_status(n, &d) != 0) {
			fs_loop_fail(lp, FS_EXIT_STATE);
			rc = -1;
		}
		ev = make_event(n, source, kind ? kind : "", object,
				jv_is_valid(vtext) ? jv_string_value(vtext) : "",
				fs_jget(o, "occurred_at"),
				jv_get_kind(d) == JV_KIND_OBJECT ? d : (jv_free(d), jv_object()),
				ln->type ? fs_jget(ln->obj, "data") : jv_copy(ln->obj));
		if (rc != 0) {
			/* the state error is already reported */
		} else if (fs_event_validate(ev, &why) != 0) {
			rc = fs_reject(lp, ln, fs_jstr(ev, "id"), "%s", why.data);
		} else if (!jv_is_valid(vtext) || jv_string_length_bytes(jv_copy(vtext)) == 0) {
			rc = fs_reject(lp, ln, NULL, "%s: the map gave no version", kind);
		} else {
			n->events++;
			fs_emit(lp, jv_copy(ev));
			if (strcmp(kind, "contact.changed") == 0)
				rc = fire_triggers(n, lp, ln, ev);
		}
		why.len = 0;
		jv_free(ev);
		jv_free(version);
		jv_free(vtext);
		jv_free(o);
	}
	fs_buf_free(&why);
	jv_free(out);
	jv_free(input);
	return rc;
}

/*
 * The hot path: a record for the built-in HubSpot contact map, read with
 * fs_jscan and written straight out, with no jv at all.  It takes only the
 * records whose events are valid and whose values it reads are strings or
 * nulls; everything else (and every error message) goes the usual way, which
 * gives the same output (tests/12-normalize-fastpath.t compares them).
 */

/* JSON string as jq 1.6 writes it: only '"', '\', controls and DEL escaped. */
static void
put_json(struct fs_buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	fs_buf_addc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		fs_buf_add(b, p + start, i - start);
		start = i + 1;
		switch (c) {
		case '"': fs_buf_add(b, "\\\"", 2); break;
		case '\\': fs_buf_add(b, "\\\\", 2); break;
		case '\b': fs_buf_add(b, "\\b", 2); break;
		case '\f': fs_buf_add(b, "\\f", 2); break;
		case '\n': fs_buf_add(b, "\\n", 2); break;
		case '\r': fs_buf_add(b, "\\r", 2); break;
		case '\t': fs_buf_add(b, "\\t", 2); break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			fs_buf_add(b, esc, 6);
		}
	}
	fs_buf_add(b, p + start, n - start);
	fs_buf_addc(b, '"');
}

static void
put_member(struct fs_buf *b, bool *first, const char *key, const char *value)
{
	if (!*first)
		fs_buf_addc(b, ',');
	*first = false;
	put_json(b, key, strlen(key));
	fs_buf_addc(b, ':');
	if (value)
		put_json(b, value, strlen(value));
	else
		fs_buf_add(b, "null", 4);
}

/* The first part of every event line, up to "data":. */
static void
put_head(struct fs_buf *b, struct normalize *n, const char *id, const char *source, const char *kind,
	 const char *object, const char *occurred_at)
{
	bool first = true;

	b->len = 0;
	fs_buf_addc(b, '{');
	put_member(b, &first, "type", "event");
	put_member(b, &first, "id", id);
	put_member(b, &first, "run_id", n->cli->run_id);
	put_member(b, &first, "source", source);
	put_member(b, &first, "kind", kind);
	put_member(b, &first, "object", object);
	put_member(b, &first, "occurred_at", occurred_at);
	fs_buf_add(b, ",\"data\":", 8);
}

/* A node's string, or NULL for null and absent; false for anything else. */
static bool
jstring(const struct fs_jtree *t, int i, struct fs_str *out)
{
	*out = (struct fs_str){NULL, 0};
	if (i < 0 || t->n[i].kind == 'z')
		return true;
	if (t->n[i].kind != 's')
		return false;
	*out = t->n[i].str;
	return true;
}

/* A short string node copied out as a C string. */
static bool
jcopy(const struct fs_jtree *t, int i, char *buf, size_t size)
{
	if (i < 0 || t->n[i].kind != 's' || t->n[i].str.n == 0 || t->n[i].str.n >= size)
		return false;
	memcpy(buf, t->n[i].str.p, t->n[i].str.n);
	buf[t->n[i].str.n] = '\0';
	return true;
}

/* fs_jget_path on the record: data is its "data", root the line (-1 for a raw object). */
static bool
present(const struct fs_jtree *t, int root, int data, const char *path)
{
	int cur;

	if (strncmp(path, "data", 4) == 0 && (path[4] == '.' || path[4] == '\0')) {
		cur = data;
		path += 4;
		if (*path == '.')
			path++;
		else
			return true;
	} else if (root < 0) {
		/* The record made for a raw object has only type, source and data. */
		return strcmp(path, "type") == 0 || strcmp(path, "source") == 0;
	} else {
		cur = root;
	}
	while (cur >= 0) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		int k;

		if (t->n[cur].kind != 'o')
			return false;
		for (k = t->n[cur].child; k >= 0; k = t->n[k].next)
			if (t->n[k].key.n == len && memcmp(t->n[k].key.p, path, len) == 0)
				break;
		if (k < 0)
			return false;
		if (dot == NULL)
			return true;
		cur = k;
		path = dot + 1;
	}
	return false;
}

/* leaf_paths on the scanned tree: the unmapped ones go to f->unmapped. */
static bool
fast_leaves(struct fast *f, struct map_entry *me, int i)
{
	const struct fs_jtree *t = &f->tree;

	if (t->n[i].kind == 'o' && t->n[i].child >= 0) {
		for (int k = t->n[i].child; k >= 0; k = t->n[k].next) {
			size_t mark = f->path.len;
			bool ok;

			fs_buf_addc(&f->path, '.');
			fs_buf_add(&f->path, t->n[k].key.p, t->n[k].key.n);
			ok = fast_leaves(f, me, k);
			f->path.len = mark;
			f->path.data[mark] = '\0';
			if (!ok)
				return false;
		}
		return true;
	}
	if (covered(&me->reads, f->path.data))
		return true;
	for (int j = 0; j < f->nunmapped; j++)
		if (strcmp(f->unmapped[j], f->path.data) == 0)
			return true;
	if (f->nunmapped == (int)(sizeof f->unmapped / sizeof f->unmapped[0]))
		return false;
	f->unmapped[f->nunmapped++] = fs_xstrdup(f->path.data);
	return true;
}

static void
fast_unmapped_free(struct fast *f)
{
	for (int j = 0; j < f->nunmapped; j++)
		free(f->unmapped[j]);
	f->nunmapped = 0;
}

/* The contact's top-level field a trigger looks at, as fs_jstr would find it. */
static const char *
contact_field(char *const cs[], const char *name)
{
	for (int i = 0; i < FS_C_N; i++)
		if ((i < FS_C_LINE1 || i > FS_C_COUNTRY) && strcmp(fs_contact_fields[i], name) == 0)
			return cs[i];
	return NULL;
}

static bool
fast_valid(char *const cs[])
{
	const char *country = cs[FS_C_COUNTRY];

	if (*cs[FS_C_ID] == '\0' || (cs[FS_C_EMAIL] && !fs_email_valid(cs[FS_C_EMAIL])) ||
	    (cs[FS_C_PHONE] && !fs_e164_valid(cs[FS_C_PHONE])))
		return false;
	if (country && strcmp(country, "US") == 0)
		return (!cs[FS_C_POSTAL_CODE] || fs_us_zip_valid(cs[FS_C_POSTAL_CODE])) &&
		       (!cs[FS_C_REGION] || fs_us_state_valid(cs[FS_C_REGION]));
	return !country || (strlen(country) == 2 && country[0] >= 'A' && country[0] <= 'Z' &&
			    country[1] >= 'A' && country[1] <= 'Z');
}

/* mail.requested would be valid for this contact (fs_event_validate's rules). */
static bool
fast_mail_valid(const struct campaign *c, char *const cs[])
{
	const char *country = cs[FS_C_COUNTRY];

	return *c->name && *c->goal && (cs[FS_C_FIRST_NAME] || cs[FS_C_LAST_NAME] || cs[FS_C_COMPANY]) &&
	       cs[FS_C_LINE1] && cs[FS_C_CITY] && cs[FS_C_POSTAL_CODE] && country &&
	       (cs[FS_C_REGION] || strcmp(country, "US") != 0);
}

static bool
trigger_fires(const struct campaign *c, char *const cs[])
{
	const char *v = contact_field(cs, c->field);

	for (int i = 0; v && i < c->nvalues; i++)
		if (strcmp(v, c->values[i]) == 0)
			return true;
	return false;
}

static void
put_address(struct fs_buf *b, char *const cs[], const char *name)
{
	bool first = true;

	fs_buf_addc(b, '{');
	if (name)
		put_member(b, &first, "name", name);
	for (int i = FS_C_LINE1; i <= FS_C_COUNTRY; i++)
		if (cs[i])
			put_member(b, &first, fs_contact_fields[i], cs[i]);
	fs_buf_addc(b, '}');
}

static int
fast_mail(struct normalize *n, struct fs_loop *lp, const struct campaign *c, char *const cs[],
	  const char *source, const char *object, const char *from)
{
	struct fast *f = &n->fast;
	struct fs_buf *b = &f->line;
	char id[40], *ver = fs_xasprintf("%s@%s", c->name, cs[FS_C_UPDATED_AT]), *name = NULL;
	const char *first = cs[FS_C_FIRST_NAME], *last = cs[FS_C_LAST_NAME];
	bool comma = true;

	fs_event_id(source, object, "mail.requested", ver, id);
	free(ver);
	put_head(b, n, id, source, "mail.requested", object, cs[FS_C_UPDATED_AT]);
	fs_buf_addc(b, '{');
	put_member(b, &comma, "contact_id", cs[FS_C_ID]);
	put_member(b, &comma, "campaign", c->name);
	put_member(b, &comma, "goal", c->goal);
	put_member(b, &comma, "format", c->format);
	if (c->template)
		put_member(b, &comma, "template", c->template);
	if (c->back)
		put_member(b, &comma, "back", c->back);
	if (c->from)
		put_member(b, &comma, "from", c->from);
	if (first || last)
		name = fs_xasprintf("%s%s%s", first ? first : "", first && last ? " " : "", last ? last : "");
	fs_buf_add(b, ",\"to\":", 6);
	put_address(b, cs, name ? name : cs[FS_C_COMPANY]);
	free(name);
	fs_buf_add(b, ",\"trigger\":{", 12);
	comma = true;
	put_member(b, &comma, "field", c->field);
	put_member(b, &comma, "from", from);
	put_member(b, &comma, "to", contact_field(cs, c->field));
	fs_buf_add(b, "}}}", 3);
	n->requests++;
	fs_emit_raw(lp, b->data, b->len);
	return 0;
}

static int
on_fast(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct normalize *n = ctx;
	struct fast *f = &n->fast;
	struct fs_jtree *t = &f->tree;
	struct fs_contact_out *o = &f->out;
	struct fs_str in[FS_HS_NIN];
	struct map_entry *me;
	char source[128], stream[128], canon[21], evid[40], *cs[FS_C_N], *object, *from = NULL;
	const char *status_property;
	int root, type, data, props, rc = 0;
	size_t need = FS_C_N + 16;
	fs_time when;
	bool comma = true;
	struct fs_buf *b = &f->line;

	if (n->keep_raw || (root = fs_jscan(t, ln->bytes, ln->len)) < 0)
		return 0;
	if ((type = fs_jscan_get(t, root, "type")) < 0) {
		if (n->source_opt == NULL || strlen(n->source_opt) >= sizeof source)
			return 0;
		strcpy(source, n->source_opt);
		*stream = '\0';
		data = root;
		root = -1;
	} else {
		int s = fs_jscan_get(t, root, "stream");

		if (t->n[type].kind != 's' || t->n[type].str.n != 6 || memcmp(t->n[type].str.p, "record", 6) != 0 ||
		    !jcopy(t, fs_jscan_get(t, root, "source"), source, sizeof source))
			return 0;
		*stream = '\0';
		if (s >= 0 && t->n[s].kind != 'z' && !jcopy(t, s, stream, sizeof stream))
			return 0;
		if ((data = fs_jscan_get(t, root, "data")) < 0 || t->n[data].kind != 'o')
			return 0;
	}
	me = map_for(n, source, *stream ? stream : NULL);
	if (!me->fast)
		return 0;

	/* The map's inputs: strings or nulls only. */
	props = fs_jscan_get(t, data, "properties");
	if (props >= 0 && t->n[props].kind != 'o' && t->n[props].kind != 'z' && t->n[props].kind != 'f')
		return 0;
	if (props >= 0 && t->n[props].kind != 'o')
		props = -1;
	status_property = fs_map_arg(me->map, "status_property");
	for (int i = 0; i < FS_HS_NIN; i++) {
		int k = i == FS_HS_ID ? fs_jscan_get(t, data, "id")
		      : i == FS_HS_UPDATED_AT ? fs_jscan_get(t, data, "updatedAt")
		      : fs_jscan_get(t, props, i == FS_HS_STATUS ? (status_property ? status_property : "lifecyclestage")
							      : fs_hs_props[i]);

		if (!jstring(t, k, &in[i]))
			return 0;
	}
	fs_hubspot_contact(in, fs_map_arg(me->map, "default_country"), o);
	if (o->version.p == NULL || o->f[FS_C_ID].n == 0)
		return 0;

	/* C strings of every field, and the canonical time. */
	for (int i = 0; i < FS_C_N; i++)
		need += o->f[i].p ? o->f[i].n : 0;
	need += o->version.n + 1 + 8 + o->f[FS_C_ID].n;
	if (f->text.cap < need) {
		f->text.data = fs_xrealloc(f->text.data, need);
		f->text.cap = need;
	}
	f->text.len = 0;
	for (int i = 0; i < FS_C_N; i++) {
		cs[i] = NULL;
		if (o->f[i].p) {
			cs[i] = memcpy(f->text.data + f->text.len, o->f[i].p, o->f[i].n);
			cs[i][o->f[i].n] = '\0';
			f->text.len += o->f[i].n + 1;
		}
	}
	{
		char *v = memcpy(f->text.data + f->text.len, o->version.p, o->version.n);

		v[o->version.n] = '\0';
		f->text.len += o->version.n + 1;
		if (fs_time_parse(v, &when) != 0)
			return 0;
		fs_time_format(when, canon);
		cs[FS_C_UPDATED_AT] = canon;
		object = f->text.data + f->text.len;
		memcpy(object, "contact:", 8);
		memcpy(object + 8, cs[FS_C_ID], o->f[FS_C_ID].n + 1);
		fs_event_id(source, object, "contact.changed", v, evid);
	}
	if (!fast_valid(cs))
		return 0;
	for (int i = 0; i < n->ncampaigns; i++)
		if (trigger_fires(&n->campaigns[i], cs) && !fast_mail_valid(&n->campaigns[i], cs))
			return 0;

	/* Drift, as drift() counts it. */
	fast_unmapped_free(f);
	f->path.len = 0;
	fs_buf_adds(&f->path, "data");
	if (!fast_leaves(f, me, data)) {
		fast_unmapped_free(f);
		return 0;
	}
	{
		int absent = 0;

		for (int i = 0; i < me->nneed; i++)
			absent += !present(t, root, data, me->need[i]);
		if (n->strict && absent + f->nunmapped > 0) {
			fast_unmapped_free(f);
			return 0;
		}
		for (int i = 0; i < me->nneed && absent; i++)
			if (!present(t, root, data, me->need[i]))
				(*fs_counts_at(&n->absent, me->need[i], strlen(me->need[i]), true))++;
		for (int j = 0; j < f->nunmapped; j++)
			(*fs_counts_at(&n->unmapped, f->unmapped[j], strlen(f->unmapped[j]), true))++;
		fast_unmapped_free(f);
	}

	/* The contact.changed event. */
	n->records++;
	put_head(b, n, evid, source, "contact.changed", object, canon);
	fs_buf_addc(b, '{');
	for (int i = 0; i < FS_C_N; i++) {
		if (i >= FS_C_LINE1 && i <= FS_C_COUNTRY) {
			bool any = false;

			if (i > FS_C_LINE1)
				continue;
			for (int k = FS_C_LINE1; k <= FS_C_COUNTRY; k++)
				any = any || cs[k];
			if (any) {
				fs_buf_add(b, ",\"address\":", 11);
				put_address(b, cs, NULL);
			}
		} else if (cs[i]) {
			put_member(b, &comma, fs_contact_fields[i], cs[i]);
		}
	}
	fs_buf_add(b, "}}", 2);
	n->events++;
	fs_emit_raw(lp, b->data, b->len);

	/* Remember the contact, then fire the triggers. */
	if (fs_loop_txn(lp) != 0 || fs_contact_observe_row(&n->cli->st, source, (const char *const *)cs, &from) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	for (int i = 0; i < n->ncampaigns && rc == 0; i++)
		if (trigger_fires(&n->campaigns[i], cs))
			rc = fast_mail(n, lp, &n->campaigns[i], cs, source, object, from);
	free(from);
	return rc < 0 ? -1 : 1;
}

/* [campaign "NAME"] trigger = FIELD = VALUE, or FIELD in V1, V2 */
static int
load_campaigns(struct normalize *n)
{
	const struct fs_config *cfg = &n->cli->cfg;

	for (int i = 0; i < cfg->nsec; i++) {
		const struct fs_section *s = &cfg->sec[i];
		const char *trigger = fs_section_get(s, "trigger");
		struct campaign *c;
		char *copy, *op, *vals, *save = NULL;

		if (strcmp(s->type, "campaign") != 0)
			continue;
		if (trigger == NULL) {
			fs_err("campaign '%s': missing 'trigger'", s->name);
			return -1;
		}
		n->campaigns = fs_xrealloc(n->campaigns, (size_t)(n->ncampaigns + 1) * sizeof *n->campaigns);
		c = &n->campaigns[n->ncampaigns++];
		memset(c, 0, sizeof *c);
		c->name = s->name;
		c->goal = fs_config_setting(cfg, "campaign", s->name, "goal");
		c->format = fs_config_setting(cfg, "campaign", s->name, "format");
		c->template = fs_config_setting(cfg, "campaign", s->name, "template");
		c->back = fs_config_setting(cfg, "campaign", s->name, "back");
		c->from = fs_config_setting(cfg, "campaign", s->name, "from");
		if (strcmp(c->format, "postcard") != 0 && strcmp(c->format, "letter") != 0) {
			fs_err("campaign '%s': format must be postcard or letter, not '%s'", s->name, c->format);
			return -1;
		}
		copy = fs_xstrdup(trigger);
		if ((op = strchr(copy, '=')) != NULL) {
			*op = '\0';
			vals = op + 1;
		} else if ((op = strstr(copy, " in ")) != NULL) {
			*op = '\0';
			vals = op + 4;
		} else {
			fs_err("campaign '%s': malformed trigger '%s' (want 'status = VALUE')", s->name, trigger);
			free(copy);
			return -1;
		}
		c->field = fs_xstrdup(fs_trim(copy));
		for (char *v = strtok_r(vals, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
			c->values = fs_xrealloc(c->values, (size_t)(c->nvalues + 1) * sizeof *c->values);
			c->values[c->nvalues++] = fs_xstrdup(fs_trim(v));
		}
		free(copy);
		if (*c->field == '\0' || c->nvalues == 0) {
			fs_err("campaign '%s': malformed trigger '%s' (want 'status = VALUE')", s->name, trigger);
			return -1;
		}
	}
	return 0;
}

static void
normalize_free(struct normalize *n)
{
	for (int i = 0; i < n->nmaps; i++) {
		fs_map_free(n->maps[i].map);
		fs_counts_free(&n->maps[i].reads);
		free(n->maps[i].need);
		free(n->maps[i].source);
		free(n->maps[i].stream);
		free(n->maps[i].why);
	}
	free(n->maps);
	for (int i = 0; i < n->ncampaigns; i++) {
		for (int j = 0; j < n->campaigns[i].nvalues; j++)
			free(n->campaigns[i].values[j]);
		free(n->campaigns[i].values);
		free(n->campaigns[i].field);
	}
	free(n->campaigns);
	fs_counts_free(&n->unmapped);
	fs_counts_free(&n->absent);
	fs_jscan_free(&n->fast.tree);
	fs_buf_free(&n->fast.out.scratch);
	fs_buf_free(&n->fast.text);
	fs_buf_free(&n->fast.line);
	fs_buf_free(&n->fast.path);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FS_CLI_COMMON_LONGOPTS,
		{"commit", no_argument, NULL, 'C'},
		{"keep-raw", no_argument, NULL, 'k'},
		{"map", required_argument, NULL, 'm'},
		{"source", required_argument, NULL, 'S'},
		{"strict", no_argument, NULL, 'X'},
		{NULL, 0, NULL, 0},
	};
	static const char *const types[] = {"record", NULL};
	struct fs_loop_ops ops = {.types = types, .line = on_record, .fast = on_fast};
	struct normalize n = {0};
	struct fs_cli cli;
	struct fs_loop lp;
	bool commit = false;
	char *path;
	int opt, rc, status;

	fs_cli_init(&cli, "fs-normalize");
	n.cli = &cli;
	while ((opt = getopt_long(argc, argv, FS_CLI_COMMON_OPTSTRING, longopts, NULL)) != -1) {
		if (fs_cli_option(&cli, opt, optarg, usage))
			continue;
		switch (opt) {
		case 'C':
			commit = true;
			break;
		case 'k':
			n.keep_raw = true;
			break;
		case 'm':
			n.map_opt = optarg;
			break;
		case 'S':
			n.source_opt = optarg;
			break;
		case 'X':
			n.strict = true;
			break;
		default:
			usage(stderr, FS_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 0)
		usage(stderr, FS_EXIT_USAGE);
	if ((rc = fs_cli_config(&cli)) != 0)
		return fs_cli_finish(&cli, rc > 0 ? FS_EXIT_OK : FS_EXIT_USAGE);
	if (n.map_opt) {
		if ((path = fs_map_find(n.map_opt)) == NULL) {
			fs_err("map '%s' not found", n.map_opt);
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
		}
		free(path);
	}
	if (n.source_opt) {
		struct fs_endpoint ep;

		if (fs_endpoint_find(&cli.cfg, "source", n.source_opt, &ep) != 0)
			return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (load_campaigns(&n) != 0) {
		normalize_free(&n);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	if (fs_cli_state(&cli) != 0) {
		normalize_free(&n);
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	ops.raw_ok = n.source_opt != NULL;
	fs_loop_init(&lp, &cli, &ops, &n);
	lp.commit_cursors = commit;
	lp.source = n.source_opt;
	status = fs_loop_run(&lp, STDIN_FILENO);
	report_drift(&n);
	fs_debug("%ld records, %ld events, %ld mail requests, %ld dead, %ld blank lines, %ld passed through",
		 n.records, n.events, n.requests, lp.stats.dead, lp.stats.blank, lp.stats.passed);
	/* The run's row in the changelog, unless it had nothing to map. */
	if (n.records || n.events || lp.stats.dead) {
		jv c = jv_object_set(jv_object(), jv_string("records"), jv_number((double)n.records));

		c = jv_object_set(c, jv_string("events"), jv_number((double)n.events));
		c = jv_object_set(c, jv_string("mail_requests"), jv_number((double)n.requests));
		c = jv_object_set(c, jv_string("dead"), jv_number((double)lp.stats.dead));
		c = jv_object_set(c, jv_string("blank"), jv_number((double)lp.stats.blank));
		c = jv_object_set(c, jv_string("passed"), jv_number((double)lp.stats.passed));
		c = jv_object_set(c, jv_string("drift"),
				  jv_object_set(jv_object_set(jv_object(), jv_string("unmapped"),
							      jv_number((double)n.unmapped.len)),
						jv_string("absent"), jv_number((double)n.absent.len)));
		if (fs_changelog_run(&cli, "fs-normalize", status, c) != 0 && status < FS_EXIT_STATE)
			status = FS_EXIT_STATE;
	}
	normalize_free(&n);
	return fs_cli_finish(&cli, status);
}
