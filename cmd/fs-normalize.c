/*
 * fs-normalize: map vendor records onto canonical events, validate them,
 * and fire campaign triggers.  What a vendor's records mean is its
 * connector's (lib/vendors.h); the machinery that knows no vendor is
 * lib/normalize.c's.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vendors.h"

/* The hot path's buffers, reused from line to line. */
struct fast {
	struct fs_jtree tree;
	struct fs_contact_out out;
	struct fs_buf text, line;
	struct fs_scan_unmapped unmapped;	/* the record's drift */
};

struct normalize {
	struct fs_cli *cli;
	const char *source_opt, *map_opt;
	bool keep_raw, strict;
	struct fs_norm_map *maps;
	int nmaps;
	struct fs_fire fire;	/* the campaigns, and what they fired */
	struct fs_drift drift;
	struct fs_counts invalid;	/* fields moved to data.invalid, by name */
	long ninvalid;
	long records, events;
	long customers, matched;	/* an accounting source's customers, and those matched to a contact */
	struct fast fast;
};

static void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fs-normalize [-qvV] [-c config] [-s state] [--commit] [--keep-raw]\n"
		   "                    [--map file] [--print-config] [--source name] [--strict]\n");
	exit(status);
}

/* The map of a source's stream, loaded at its first record. */
static struct fs_norm_map *
map_for(struct normalize *n, const char *source, const char *stream)
{
	for (int i = 0; i < n->nmaps; i++)
		if (strcmp(n->maps[i].source, source) == 0 &&
		    strcmp(n->maps[i].stream, stream ? stream : "") == 0)
			return &n->maps[i];
	n->maps = fs_xrealloc(n->maps, (size_t)(n->nmaps + 1) * sizeof *n->maps);
	fs_norm_map_load(&n->maps[n->nmaps], &n->cli->cfg, source, stream, n->map_opt);
	return &n->maps[n->nmaps++];
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

/*
 * contact.changed from an accounting source: a customer, matched to a CRM
 * contact and stored, not a contact.  It enters no campaign and goes no
 * further down the pipeline (a dedupe scan would count it as a duplicate
 * of its own contact).
 */
static int
match_customer(struct normalize *n, struct fs_loop *lp, jv ev)
{
	jv data = fs_jget(ev, "data");
	bool matched;
	int rc;

	rc = fs_loop_txn(lp) != 0 ? -1 : fs_customer_observe(&n->cli->st, fs_jstr(ev, "source"),
							     fs_jstr(data, "updated_at"), data, &matched);
	jv_free(data);
	if (rc != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	n->customers++;
	n->matched += matched;
	return 0;
}

static int
on_record(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct normalize *n = ctx;
	const char *source = ln->type ? fs_jstr(ln->obj, "source") : n->source_opt;
	const char *stream = ln->type ? fs_jstr(ln->obj, "stream") : NULL;
	struct fs_norm_map *me;
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
	if (fs_drift_count(&n->drift, me, input, &why) > 0 && n->strict) {
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
		ev = fs_event_make(n->cli->run_id, source, kind ? kind : "", object,
				   jv_is_valid(vtext) ? jv_string_value(vtext) : "",
				   fs_jget(o, "occurred_at"),
				   jv_get_kind(d) == JV_KIND_OBJECT ? d : (jv_free(d), jv_object()),
				   !n->keep_raw ? jv_invalid() : ln->type ? fs_jget(ln->obj, "data") : jv_copy(ln->obj));
		if (rc == 0)
			n->ninvalid += fs_event_repair(&ev, &n->invalid);
		if (rc != 0) {
			/* the state error is already reported */
		} else if (fs_event_validate(ev, &why) != 0) {
			rc = fs_reject(lp, ln, fs_jstr(ev, "id"), "%s", why.data);
		} else if (!jv_is_valid(vtext) || jv_string_length_bytes(jv_copy(vtext)) == 0) {
			rc = fs_reject(lp, ln, NULL, "%s: the map gave no version", kind);
		} else if (strcmp(kind, "contact.changed") == 0 && me->vendor &&
			   (me->vendor->flags & FS_VENDOR_CUSTOMERS)) {
			rc = match_customer(n, lp, ev);
		} else {
			n->events++;
			fs_emit(lp, jv_copy(ev));
			if (strcmp(kind, "contact.changed") == 0)
				rc = fs_fire_contact(&n->fire, lp, ln, ev);
			else if (strcmp(kind, "job.changed") == 0)
				rc = fs_fire_job(&n->fire, lp, ln, ev);
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
 * The hot path: a record for a shipped contact map its connector does in C
 * (fast_contact), read with fs_jscan and written straight out, with no jv at all.  It takes only the
 * records whose events are valid and whose values it reads are strings or
 * nulls; everything else (and every error message) goes the usual way, which
 * gives the same output (tests/12-normalize-fastpath.t compares them).
 */

/* The first part of every event line, up to "data":. */
static void
put_head(struct fs_buf *b, struct normalize *n, const char *id, const char *source, const char *kind,
	 const char *object, const char *occurred_at)
{
	bool first = true;

	b->len = 0;
	fs_buf_addc(b, '{');
	fs_put_member(b, &first, "type", "event");
	fs_put_member(b, &first, "id", id);
	fs_put_member(b, &first, "run_id", n->cli->run_id);
	fs_put_member(b, &first, "source", source);
	fs_put_member(b, &first, "kind", kind);
	fs_put_member(b, &first, "object", object);
	fs_put_member(b, &first, "occurred_at", occurred_at);
	fs_buf_add(b, ",\"data\":", 8);
}

/* request_mail's line for a contact campaign, written straight out. */
static int
fast_mail(struct normalize *n, struct fs_loop *lp, const struct fs_campaign *c, char *const cs[],
	  const char *source, const char *object, const char *from, bool do_not_mail)
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
	fs_put_member(b, &comma, "contact_id", cs[FS_C_ID]);
	fs_put_member(b, &comma, "campaign", c->name);
	fs_put_member(b, &comma, "goal", c->goal);
	fs_put_member(b, &comma, "format", c->format);
	if (c->template)
		fs_put_member(b, &comma, "template", c->template);
	if (c->back)
		fs_put_member(b, &comma, "back", c->back);
	if (c->from)
		fs_put_member(b, &comma, "from", c->from);
	if (first || last)
		name = fs_xasprintf("%s%s%s", first ? first : "", first && last ? " " : "", last ? last : "");
	fs_buf_add(b, ",\"to\":", 6);
	fs_put_address(b, cs, name ? name : cs[FS_C_COMPANY]);
	free(name);
	fs_buf_add(b, ",\"trigger\":{", 12);
	comma = true;
	fs_put_member(b, &comma, "field", c->trigger.field);
	fs_put_member(b, &comma, "from", from);
	fs_put_member(b, &comma, "to", fs_contact_field(cs, c->trigger.field));
	fs_buf_addc(b, '}');
	if (do_not_mail)
		fs_buf_adds(b, ",\"do_not_mail\":true");
	fs_buf_add(b, "}}", 2);
	n->fire.requests++;
	fs_emit_raw(lp, b->data, b->len);
	fs_buf_addc(b, '\0');
	if (fs_entry_add(&n->cli->st, source, object, c->name, id, b->data, b->len - 1, n->cli->run_id) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

static int
on_fast(struct fs_loop *lp, struct fs_line *ln, void *ctx)
{
	struct normalize *n = ctx;
	struct fast *f = &n->fast;
	struct fs_jtree *t = &f->tree;
	struct fs_contact_out *o = &f->out;
	struct fs_norm_map *me;
	char source[128], stream[128], canon[21], evid[40], *cs[FS_C_N], *object, *version;
	struct fs_seen seen;
	int root, data, rc = 0;
	struct fs_buf *b = &f->line;

	if (n->keep_raw || (root = fs_jscan(t, ln->bytes, ln->len)) < 0)
		return 0;
	if ((data = fs_jscan_record(t, root, n->source_opt, source, sizeof source, stream, sizeof stream)) < 0)
		return 0;
	if (data == root)
		root = -1;	/* a raw object: its record is made for it */
	me = map_for(n, source, *stream ? stream : NULL);
	/* The connector's map in C, then the contact as strings. */
	if (!me->fast || !me->fast->fast_contact(t, data, me->map, o) || o->version.p == NULL ||
	    o->f[FS_C_ID].n == 0 || !fs_contact_strings(o, &f->text, cs, canon, &object, &version))
		return 0;
	fs_event_id(source, object, "contact.changed", version, evid);
	if (!fs_contact_row_valid(cs))
		return 0;
	/* A request that may fire and would not be valid goes the usual way, which says why. */
	for (int i = 0; i < n->fire.ncampaigns; i++)
		if (!n->fire.campaigns[i].on_job && fs_cond_matches(&n->fire.campaigns[i].trigger,
							       fs_contact_field(cs, n->fire.campaigns[i].trigger.field)) &&
		    !fs_contact_row_mailable(&n->fire.campaigns[i], cs))
			return 0;

	if (!fs_drift_scanned(&n->drift, &f->unmapped, me, t, root, data, n->strict))
		return 0;

	/* The contact.changed event. */
	n->records++;
	put_head(b, n, evid, source, "contact.changed", object, canon);
	fs_put_contact(b, cs, o->do_not_mail);
	n->events++;
	fs_emit_raw(lp, b->data, b->len);

	/* Remember the contact, then fire the campaigns it enters. */
	if (fs_loop_txn(lp) != 0 || fs_fire_first_runs(&n->fire) != 0 ||
	    fs_contact_observe_row(&n->cli->st, source, (const char *const *)cs, o->do_not_mail, NULL, &seen) != 0) {
		fs_loop_fail(lp, FS_EXIT_STATE);
		return -1;
	}
	rc = fs_fire_ask_again(&n->fire, lp, source, object, &seen);
	for (int i = 0; i < n->fire.ncampaigns && rc == 0; i++) {
		const struct fs_campaign *c = &n->fire.campaigns[i];
		struct fs_fields fl = {.cs = cs};

		if (!c->on_job &&
		    fs_fire_enters(&n->fire, i, fs_contact_field(cs, c->trigger.field), &seen, cs[FS_C_UPDATED_AT]) &&
		    fs_filters_pass(c, &fl))
			rc = fast_mail(n, lp, c, cs, source, object,
				       seen.known ? fs_jstr(seen.prev, c->trigger.field) : NULL, o->do_not_mail);
	}
	fs_seen_free(&seen);
	return rc < 0 ? -1 : 1;
}

static void
normalize_free(struct normalize *n)
{
	for (int i = 0; i < n->nmaps; i++)
		fs_norm_map_free(&n->maps[i]);
	free(n->maps);
	fs_campaigns_free(n->fire.campaigns, n->fire.ncampaigns);
	free(n->fire.first_run);
	fs_counts_free(&n->invalid);
	fs_drift_free(&n->drift);
	fs_jscan_free(&n->fast.tree);
	fs_buf_free(&n->fast.out.scratch);
	fs_buf_free(&n->fast.text);
	fs_buf_free(&n->fast.line);
	fs_scan_unmapped_clear(&n->fast.unmapped);
	fs_buf_free(&n->fast.unmapped.path);
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
	n.cli = n.fire.cli = &cli;
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
	if (fs_campaigns_load(&cli.cfg, &n.fire.campaigns, &n.fire.ncampaigns) != 0) {
		normalize_free(&n);
		return fs_cli_finish(&cli, FS_EXIT_USAGE);
	}
	n.fire.first_run = fs_xmalloc((size_t)(n.fire.ncampaigns + 1) * sizeof *n.fire.first_run);
	if (fs_cli_state(&cli) != 0) {
		normalize_free(&n);
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	if (fs_campaign_first_runs(&cli.st, n.fire.campaigns, n.fire.ncampaigns, cli.run_id, false, n.fire.first_run) != 0) {
		normalize_free(&n);
		return fs_cli_finish(&cli, FS_EXIT_STATE);
	}
	if ((rc = fs_campaigns_check_sources(&cli, n.fire.campaigns, n.fire.ncampaigns)) != 0) {
		normalize_free(&n);
		return fs_cli_finish(&cli, rc);
	}
	ops.raw_ok = n.source_opt != NULL;
	fs_loop_init(&lp, &cli, &ops, &n);
	lp.commit_cursors = commit;
	lp.source = n.source_opt;
	status = fs_loop_run(&lp, STDIN_FILENO);
	fs_drift_report(&n.drift);
	if (n.fire.again)
		fs_debug("%ld mail request%s asked for again (no pipeline had taken %s)", n.fire.again, n.fire.again == 1 ? "" : "s",
			 n.fire.again == 1 ? "it" : "them");
	/* Requests kept longer than FS_ENTRY_KEEP are not asked for again. */
	if (n.fire.requests && status < FS_EXIT_STATE) {
		int64_t pruned = 0;

		if (fs_state_begin(&cli.st) != 0 || fs_entries_prune(&cli.st, fs_now() - FS_ENTRY_KEEP, &pruned) != 0 ||
		    fs_state_commit(&cli.st) != 0) {
			fs_state_rollback(&cli.st);
			status = FS_EXIT_STATE;
		}
	}
	/* A customer seen before its contact is matched once the contact is here. */
	if (n.events && status < FS_EXIT_STATE) {
		int64_t late = 0;

		if (fs_customers_rematch(&cli.st, &late) != 0)
			status = FS_EXIT_STATE;
		n.matched += late;
	}
	if (n.customers || n.matched)
		fs_debug("%ld customer%s seen, %ld matched to a contact", n.customers, n.customers == 1 ? "" : "s",
			 n.matched);
	if (n.ninvalid)
		fs_debug("%ld invalid field%s moved to data.invalid", n.ninvalid, n.ninvalid == 1 ? "" : "s");
	fs_debug("%ld records, %ld events, %ld mail requests, %ld dead, %ld blank lines, %ld passed through",
		 n.records, n.events, n.fire.requests, lp.stats.dead, lp.stats.blank, lp.stats.passed);
	/* The run's row in the changelog, unless it had nothing to map. */
	if (n.records || n.events || lp.stats.dead) {
		jv c = jv_object_set(jv_object(), jv_string("records"), jv_number((double)n.records));

		c = jv_object_set(c, jv_string("events"), jv_number((double)n.events));
		c = jv_object_set(c, jv_string("mail_requests"), jv_number((double)n.fire.requests));
		c = jv_object_set(c, jv_string("dead"), jv_number((double)lp.stats.dead));
		c = jv_object_set(c, jv_string("blank"), jv_number((double)lp.stats.blank));
		c = jv_object_set(c, jv_string("passed"), jv_number((double)lp.stats.passed));
		c = jv_object_set(c, jv_string("drift"),
				  jv_object_set(jv_object_set(jv_object(), jv_string("unmapped"),
							      jv_number((double)n.drift.unmapped.len)),
						jv_string("absent"), jv_number((double)n.drift.absent.len)));
		c = jv_object_set(c, jv_string("invalid"), fs_counts_json(&n.invalid));
		if (n.customers || n.matched) {
			c = jv_object_set(c, jv_string("customers"), jv_number((double)n.customers));
			c = jv_object_set(c, jv_string("matched"), jv_number((double)n.matched));
		}
		if (fs_changelog_run(&cli, "fs-normalize", status, c) != 0 && status < FS_EXIT_STATE)
			status = FS_EXIT_STATE;
	}
	normalize_free(&n);
	return fs_cli_finish(&cli, status);
}
