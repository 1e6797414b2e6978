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

/* The shipped map for a kind and stream. */
static const char *
default_map(const char *kind, const char *stream)
{
	if (strcmp(kind, "hubspot") == 0) {
		if (strcmp(stream, "contacts") == 0)
			return "hubspot-contact.jq";
		if (strcmp(stream, "deals") == 0)
			return "hubspot-deal.jq";
		return "hubspot-engagement.jq";	/* calls, emails, meetings, tasks */
	}
	if (strcmp(kind, "csv") == 0)
		return strcmp(stream, "mail-history") == 0 ? "csv-mail-history.jq" : "csv-contact.jq";
	return "lob-event.jq";
}

/* $source inside a map: the source's settings that are safe to show. */
static jv
map_args(const struct fs_endpoint *ep)
{
	jv args = jv_object();

	args = jv_object_set(args, jv_string("name"), jv_string(ep->name));
	args = jv_object_set(args, jv_string("kind"), jv_string(ep->kind));
	for (int i = 0; ep->sec && i < ep->sec->nkv; i++)
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
	snprintf(key, sizeof key, "map.%s", stream);
	if ((name = n->map_opt) == NULL && (name = fs_section_get(ep.sec, key)) == NULL &&
	    (name = fs_section_get(ep.sec, "map")) == NULL)
		name = default_map(ep.kind, stream);
	if ((path = fs_map_find(name)) == NULL) {
		e->why = fs_xasprintf("no map '%s' for source \"%s\" stream \"%s\"", name, source, stream);
		return e;
	}
	if ((e->map = fs_map_load(path, map_args(&ep))) == NULL)
		e->why = fs_xasprintf("map '%s' does not compile", path);
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
drift(struct normalize *n, struct fs_map *m, jv record, struct fs_buf *why)
{
	struct fs_counts reads = {0}, unmapped = {0};
	struct fs_buf path = {0};
	int count = 0, nreads;
	const char *const *r = fs_map_reads(m, &nreads);

	for (int i = 0; i < nreads; i++) {
		const char *p = r[i][0] == '?' ? r[i] + 1 : r[i];

		*fs_counts_at(&reads, p, strlen(p), true) = 1;
		if (r[i][0] != '?' && strchr(p, '*') == NULL) {
			jv v = fs_jget_path(record, p);

			if (!jv_is_valid(v)) {
				(*fs_counts_at(&n->absent, p, strlen(p), true))++;
				if (count++ == 0)
					fs_buf_addf(why, "map path \"%s\" is absent", p);
			}
			jv_free(v);
		}
	}
	if (nreads > 0) {
		int found = 0;

		fs_buf_adds(&path, "data");
		leaf_paths(fs_jget(record, "data"), &path, &reads, &unmapped, &found);
		for (size_t i = 0; i < unmapped.cap; i++)
			if (unmapped.e[i].key) {
				(*fs_counts_at(&n->unmapped, unmapped.e[i].key, strlen(unmapped.e[i].key), true))++;
				if (count++ == 0)
					fs_buf_addf(why, "unmapped field \"%s\"", unmapped.e[i].key);
			}
	}
	fs_buf_free(&path);
	fs_counts_free(&reads);
	fs_counts_free(&unmapped);
	return count;
}

static int
by_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One summary line; -v lists every path, sorted, with its count. */
static void
report_drift(struct normalize *n)
{
	struct fs_counts *sets[] = {&n->unmapped, &n->absent};
	const char *what[] = {"field \"%s\" is not read by the map (%ld records)",
			      "map path \"%s\" is absent (%ld records)"};

	if (n->unmapped.len == 0 && n->absent.len == 0)
		return;
	fs_info("drift: %zu unmapped field%s, %zu absent map path%s%s", n->unmapped.len,
		n->unmapped.len == 1 ? "" : "s", n->absent.len, n->absent.len == 1 ? "" : "s",
		fs_verbosity < 2 ? " (-v lists them)" : "");
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
	if (drift(n, me->map, input, &why) > 0 && n->strict) {
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
		c->goal = fs_section_get(s, "goal") ? fs_section_get(s, "goal") : s->name;
		c->format = fs_section_get(s, "format") ? fs_section_get(s, "format") : "postcard";
		c->template = fs_section_get(s, "template");
		c->back = fs_section_get(s, "back") ? fs_section_get(s, "back") : c->template;
		c->from = fs_section_get(s, "from");
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
	struct fs_loop_ops ops = {types, false, on_record, NULL, NULL};
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
	normalize_free(&n);
	return fs_cli_finish(&cli, status);
}
