/*
 * Unsigned requests to fs-hook, counted beside the state file, not in it.
 *
 * A request that carries none of the vendor's signature headers (an uptime
 * probe, an internet scanner, a proxy that strips the headers) is no
 * delivery: it must not page anyone, switch a source to polling or cost a
 * write transaction on the state every pipeline shares.  fs-hook counts it
 * here instead, in STATE-hook (fs_state_side_file: a file of each host's own
 * when the state is a database): a small file of one slot per source, each
 * update a read and a write of that slot under flock(2), in the page cache,
 * no fsync (a crash loses some counts, which is what they are worth).
 * fs-health reads it; fs-watchdog's alerts come from fs-health's problems.
 *
 * The file is made as the state file is (0600, or 0660 in [state] group).
 * Its layout is this machine's: the header, then FS_PROBE_SLOTS slots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fieldsync.h"

#define MAGIC "fshook1\n"
#define SLOTS 128
#define BUCKET 600		/* seconds: the last hour is six of them */
#define NBUCKETS 6

struct slot {
	char source[64];	/* NUL-terminated; "" is a free slot */
	int64_t bucket;		/* the newest ten-minute bucket counted (time / BUCKET) */
	int64_t recent[NBUCKETS];	/* unsigned requests in bucket k, at k % NBUCKETS */
	int64_t total, last_at;	/* since the file was made; the newest */
	int64_t stripped, stripped_at;	/* vendor-shaped, since the last good delivery; the newest */
	int64_t stripped_total;
};

struct file {
	char magic[8];
	struct slot slot[SLOTS];
};

char *
fs_probes_path(const char *state_path)
{
	return fs_state_side_file(state_path, "hook");
}

/* Bucket k's place in recent[], for any k. */
static int
at(int64_t k)
{
	return (int)(((k % NBUCKETS) + NBUCKETS) % NBUCKETS);
}

static void
slot_name(const char *source, char out[64])
{
	memset(out, 0, 64);
	snprintf(out, 64, "%s", source);
}

/* The slot of source; with make, a free one taken for it (the last one when none is free). */
static struct slot *
find(struct file *f, const char *source, bool make)
{
	char name[64];
	struct slot *free_slot = NULL;

	slot_name(source, name);
	for (int i = 0; i < SLOTS; i++) {
		if (memcmp(f->slot[i].source, name, sizeof name) == 0)
			return &f->slot[i];
		if (free_slot == NULL && f->slot[i].source[0] == '\0')
			free_slot = &f->slot[i];
	}
	if (!make)
		return NULL;
	if (free_slot == NULL)	/* a hundred and twenty-eight sources: the rest share the last */
		return &f->slot[SLOTS - 1];
	memset(free_slot, 0, sizeof *free_slot);
	memcpy(free_slot->source, name, sizeof name);
	return free_slot;
}

static int
load(int fd, const char *path, struct file *f)
{
	ssize_t n = pread(fd, f, sizeof *f, 0);

	if (n < 0) {
		fs_err("cannot read '%s':", path);
		return -1;
	}
	/* A new, short or foreign file counts from nothing. */
	if ((size_t)n != sizeof *f || memcmp(f->magic, MAGIC, sizeof f->magic) != 0) {
		memset(f, 0, sizeof *f);
		memcpy(f->magic, MAGIC, sizeof f->magic);
		return 1;
	}
	return 0;
}

static int
store(int fd, const char *path, const struct file *f, const struct slot *s, bool whole)
{
	const void *p = whole ? (const void *)f : (const void *)s;
	size_t n = whole ? sizeof *f : sizeof *s;
	off_t at = whole ? 0 : (off_t)((const char *)s - (const char *)f);

	if (pwrite(fd, p, n, at) != (ssize_t)n) {
		fs_err("cannot write '%s':", path);
		return -1;
	}
	return 0;
}

/* Opens and locks the file; change: read and write, made when missing. */
static int
open_locked(const char *path, const char *group, bool change)
{
	int fd = change ? fs_state_file_open(path, group) : open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (!change && errno != ENOENT)
			fs_err("cannot open '%s':", path);
		return -1;
	}
	while (flock(fd, change ? LOCK_EX : LOCK_SH) != 0) {
		if (errno != EINTR) {
			fs_err("cannot lock '%s':", path);
			close(fd);
			return -1;
		}
	}
	return fd;
}

int
fs_probes_count(const char *state_path, const char *group, const char *source, bool shaped, fs_time now)
{
	char *path = fs_probes_path(state_path);
	struct file *f;
	struct slot *s;
	int64_t b = now / BUCKET;
	int fd, fresh, rc = -1;

	if (path == NULL)
		return 0;
	if ((fd = open_locked(path, group, true)) < 0) {
		free(path);
		return -1;
	}
	f = fs_xmalloc(sizeof *f);
	if ((fresh = load(fd, path, f)) < 0)
		goto out;
	s = find(f, source, true);
	if (b > s->bucket) {
		/* The buckets between the last one counted and this one saw nothing. */
		for (int64_t k = s->bucket + 1; k <= b && k <= s->bucket + NBUCKETS; k++)
			s->recent[at(k)] = 0;
		s->bucket = b;
	}
	if (s->bucket - b < NBUCKETS)	/* a clock set back counts in its own bucket, if still kept */
		s->recent[at(b)]++;
	s->total++;
	if (now > s->last_at)
		s->last_at = now;
	if (shaped) {
		s->stripped++;
		s->stripped_total++;
		if (now > s->stripped_at)
			s->stripped_at = now;
	}
	rc = store(fd, path, f, s, fresh);
out:
	close(fd);
	free(f);
	free(path);
	return rc;
}

int
fs_probes_good(const char *state_path, const char *source)
{
	char *path = fs_probes_path(state_path);
	struct file *f;
	struct slot *s;
	int fd, rc = 0;

	if (path == NULL)
		return 0;
	/* No file: nothing to start again, and none is made for it. */
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc)
			fs_err("cannot open '%s':", path);
		free(path);
		return rc;
	}
	f = fs_xmalloc(sizeof *f);
	if (flock(fd, LOCK_EX) != 0) {
		fs_err("cannot lock '%s':", path);
		rc = -1;
		goto out;
	}
	if (load(fd, path, f) != 0 || (s = find(f, source, false)) == NULL || s->stripped == 0)
		goto out;
	s->stripped = 0;
	rc = store(fd, path, f, s, false);
out:
	close(fd);
	free(f);
	free(path);
	return rc;
}

int
fs_probes_read(const char *state_path, const char *source, fs_time now, struct fs_probes *out)
{
	char *path = fs_probes_path(state_path);
	struct file *f;
	struct slot *s;
	int64_t b = now / BUCKET;
	int fd;

	memset(out, 0, sizeof *out);
	if (path == NULL)
		return 0;
	if ((fd = open_locked(path, NULL, false)) < 0) {
		int rc = errno == ENOENT ? 0 : -1;

		free(path);
		return rc;
	}
	f = fs_xmalloc(sizeof *f);
	if (load(fd, path, f) == 0 && (s = find(f, source, false)) != NULL) {
		/* The six buckets up to now, of those kept. */
		for (int64_t k = (b > s->bucket ? b : s->bucket) - (NBUCKETS - 1); k <= s->bucket && k <= b; k++)
			out->last_hour += s->recent[at(k)];
		out->total = s->total;
		out->last_at = s->last_at;
		out->stripped = s->stripped;
		out->stripped_at = s->stripped_at;
		out->stripped_total = s->stripped_total;
		out->seen = true;
	}
	close(fd);
	free(f);
	free(path);
	return 0;
}

int
fs_probes_sources(const char *state_path, char ***names, int *n)
{
	char *path = fs_probes_path(state_path);
	struct file *f;
	int fd;

	*names = NULL;
	*n = 0;
	if (path == NULL)
		return 0;
	if ((fd = open_locked(path, NULL, false)) < 0) {
		int rc = errno == ENOENT ? 0 : -1;

		free(path);
		return rc;
	}
	f = fs_xmalloc(sizeof *f);
	if (load(fd, path, f) == 0)
		for (int i = 0; i < SLOTS; i++)
			if (f->slot[i].source[0] != '\0') {
				*names = fs_xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
				(*names)[(*n)++] = fs_xstrdup(f->slot[i].source);
			}
	close(fd);
	free(f);
	free(path);
	return 0;
}
