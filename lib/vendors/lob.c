/*
 * Lob's connector.  Pull (kind lob-events): the tracking events of pieces,
 * from the webhook inbox and, in polling mode, from the pieces in flight.
 *
 * Push (kind lob, fs-push): the create body for a mail.requested event (as
 * Lob's OpenAPI spec defines POST /postcards and POST /letters), and the
 * parts of Lob's answers fs-push reads.
 *
 * Address limits: a name (or company) longer than 40 characters is cut to
 * 40 at a character boundary, since a shortened name still reaches the
 * door; an address line longer than Lob allows (64 characters in the US,
 * 200 abroad) is refused here and the row goes to the DLQ, since a cut
 * street address can send the piece to the wrong place.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define POLL_PIECES 50		/* polled pieces per checkpoint */

struct lob_event {
	char *piece, *key;
	jv data;
	int64_t inbox_id;	/* drained from this inbox row; 0 when polled */
};

/*
 * Both paths (webhook inbox and polling) emit one canonical event object per
 * tracking event, in Lob's webhook shape, so fs-normalize gives the same
 * event id whichever path saw it:
 *
 *   {"id":K,"object":"event","event_type":{"id":"postcard.delivered"},
 *    "reference_id":"psc_…","date_created":T,
 *    "body":{"id":"psc_…","object":"postcard","metadata":{…},"tracking_events":[TE]}}
 *
 * K is the tracking event's id (evnt_…) and T its time; an event without a
 * tracking event (failed, deleted, rendered_pdf, …) has K "psc_…:postcard.failed"
 * and T the piece's date_modified.  TE keeps id, type, name, time, location.
 */
static char *
slug(const char *name)
{
	char *s = fs_xstrdup(name);

	for (char *q = s; *q; q++)
		*q = *q == ' ' ? '_' : (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
	return s;
}

/* "postcard.in_transit" or "letter.certified.delivered" for a tracking event. */
static char *
te_type(const char *singular, jv te)
{
	const char *name = fs_jstr(te, "name"), *type = fs_jstr(te, "type");
	char *sl, *out;

	if (name == NULL)
		return NULL;
	sl = slug(name);
	out = fs_xasprintf("%s.%s%s", singular, type && strcmp(type, "certified") == 0 ? "certified." : "", sl);
	free(sl);
	return out;
}

static jv
te_trim(jv te)
{
	static const char *const keep[] = {"id", "type", "name", "time", "location", NULL};
	jv out = jv_object();

	for (int i = 0; keep[i]; i++) {
		jv v = fs_jget(te, keep[i]);

		out = jv_object_set(out, jv_string(keep[i]), jv_is_valid(v) ? v : (jv_free(v), jv_null()));
	}
	jv_free(te);
	return out;
}

static jv
lob_canonical(const char *piece, const char *object, jv metadata, const char *type_id, jv te,
	      const char *fallback_date)
{
	jv data = jv_object(), body = jv_object();
	const char *date = NULL;
	char *key;

	if (jv_is_valid(te)) {
		te = te_trim(te);
		key = fs_xstrdup(fs_jstr(te, "id"));
		date = fs_jstr(te, "time");
	} else {
		key = fs_xasprintf("%s:%s", piece, type_id);
	}
	if (date == NULL)
		date = fallback_date;
	data = jv_object_set(data, jv_string("id"), jv_string(key));
	data = jv_object_set(data, jv_string("object"), jv_string("event"));
	data = jv_object_set(data, jv_string("event_type"),
			     jv_object_set(jv_object(), jv_string("id"), jv_string(type_id)));
	data = jv_object_set(data, jv_string("reference_id"), jv_string(piece));
	data = jv_object_set(data, jv_string("date_created"), date ? jv_string(date) : jv_null());
	body = jv_object_set(body, jv_string("id"), jv_string(piece));
	body = jv_object_set(body, jv_string("object"), jv_string(object));
	body = jv_object_set(body, jv_string("metadata"),
			     jv_get_kind(metadata) == JV_KIND_OBJECT ? metadata : (jv_free(metadata), jv_object()));
	if (jv_is_valid(te))
		body = jv_object_set(body, jv_string("tracking_events"), jv_array_append(jv_array(), te));
	data = jv_object_set(data, jv_string("body"), body);
	free(key);
	return data;
}

static const char *
singular_of(const char *piece)
{
	return strncmp(piece, "ltr_", 4) == 0 ? "letter" : "postcard";
}

static jv
lob_from_webhook(jv ev, const char **why)
{
	jv body = fs_jget(ev, "body"), et = fs_jget(ev, "event_type"), tes, found = jv_invalid(), out;
	const char *piece = fs_jstr(body, "id"), *type_id = fs_jstr(et, "id");
	const char *object, *date;

	if (piece == NULL || type_id == NULL) {
		*why = piece ? "missing \"event_type.id\"" : "missing \"body.id\"";
		jv_free(body), jv_free(et), jv_free(ev);
		return jv_invalid();
	}
	object = fs_jstr(body, "object");
	if (object == NULL)
		object = singular_of(piece);
	/* The body is the piece after the event: its newest tracking event of this type is it. */
	tes = fs_jget(body, "tracking_events");
	if (jv_get_kind(tes) == JV_KIND_ARRAY)
		jv_array_foreach(tes, i, te) {
			char *t = te_type(object, te);

			(void)i;
			if (t && strcmp(t, type_id) == 0) {
				jv_free(found);
				found = jv_copy(te);
			}
			free(t);
			jv_free(te);
		}
	jv_free(tes);
	date = fs_jstr(body, "date_modified");
	if (date == NULL)
		date = fs_jstr(ev, "date_created");
	out = lob_canonical(piece, object, fs_jget(body, "metadata"), type_id, found, date);
	jv_free(body), jv_free(et), jv_free(ev);
	return out;
}

/* The events one polled piece shows: its tracking events, then failed / deleted. */
static void
piece_events(jv piece, struct lob_event **ev, int *n, int *cap)
{
	const char *id = fs_jstr(piece, "id"), *object = fs_jstr(piece, "object");
	const char *status = fs_jstr(piece, "status"), *date = fs_jstr(piece, "date_modified");
	jv tes = fs_jget(piece, "tracking_events"), deleted = fs_jget(piece, "deleted");
	char *extra[2];
	int nextra = 0;

	if (id == NULL) {
		jv_free(tes), jv_free(deleted);
		return;
	}
	if (object == NULL)
		object = singular_of(id);
	if (status && strcmp(status, "failed") == 0)
		extra[nextra++] = fs_xasprintf("%s.failed", object);
	if (jv_get_kind(deleted) == JV_KIND_TRUE)
		extra[nextra++] = fs_xasprintf("%s.deleted", object);
	if (jv_get_kind(tes) == JV_KIND_ARRAY)
		jv_array_foreach(tes, i, te) {
			char *t = te_type(object, te);

			(void)i;
			if (t && fs_jstr(te, "id")) {
				if (*n == *cap)
					*ev = fs_xrealloc(*ev, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **ev);
				(*ev)[*n].piece = fs_xstrdup(id);
				(*ev)[*n].data = lob_canonical(id, object, fs_jget(piece, "metadata"), t, jv_copy(te), date);
				(*ev)[*n].key = fs_xstrdup(fs_jstr((*ev)[*n].data, "id"));
				(*ev)[*n].inbox_id = 0;
				(*n)++;
			}
			free(t);
			jv_free(te);
		}
	for (int i = 0; i < nextra; i++) {
		if (*n == *cap)
			*ev = fs_xrealloc(*ev, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **ev);
		(*ev)[*n].piece = fs_xstrdup(id);
		(*ev)[*n].data = lob_canonical(id, object, fs_jget(piece, "metadata"), extra[i], jv_invalid(), date);
		(*ev)[*n].key = fs_xstrdup(fs_jstr((*ev)[*n].data, "id"));
		(*ev)[*n].inbox_id = 0;
		(*n)++;
		free(extra[i]);
	}
	jv_free(tes);
	jv_free(deleted);
}

static void
lob_events_free(struct lob_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		free(ev[i].piece);
		free(ev[i].key);
		jv_free(ev[i].data);
	}
	free(ev);
}

/*
 * Emits the events that neither path has emitted (and had committed) before:
 * polled ones, then the poll checkpoint; drained ones, whose inbox
 * checkpoint the caller writes.  What is recorded is committed before the
 * records go out, and forgotten by the next run unless their checkpoint was
 * committed (lob_start).
 */
static int
lob_emit(struct fs_pull *p, struct lob_event *ev, int n, bool drained)
{
	struct fs_state *st = &p->cli->st;
	int64_t poll = 0;
	bool *fresh = fs_xmalloc((size_t)(n ? n : 1) * sizeof *fresh);
	int nfresh = 0, rc = 0;
	char cursor[32];

	if (fs_state_begin(st) != 0)
		goto state;
	for (int i = 0; i < n; i++) {
		int seen = fs_poll_seen(st, p->name, ev[i].piece, ev[i].key);

		if (seen < 0)
			goto state;
		if ((fresh[i] = seen == 0)) {
			if (drained) {
				if (fs_poll_record_drained(st, p->name, ev[i].piece, ev[i].key, ev[i].inbox_id) != 0)
					goto state;
			} else {
				if (poll == 0 && (poll = fs_poll_begin(st, p->name, p->cli->run_id)) < 0)
					goto state;
				if (fs_poll_record(st, p->name, ev[i].piece, ev[i].key, poll) != 0)
					goto state;
			}
			nfresh++;
		} else {
			fs_debug("%s: event %s of %s was emitted before: not again", p->name, ev[i].key, ev[i].piece);
		}
	}
	if (fs_state_commit(st) != 0)
		goto state;
	for (int i = 0; i < n; i++)
		if (fresh[i])
			fs_pull_record(p, "events", ev[i].key, jv_copy(ev[i].data));
	if (nfresh > 0 && !drained) {
		snprintf(cursor, sizeof cursor, "%lld", (long long)poll);
		rc = fs_pull_checkpoint(p, "poll", cursor);
	}
	free(fresh);
	return rc;
state:
	fs_state_rollback(st);
	free(fresh);
	fs_pull_fail(p, FS_EXIT_STATE);
	return -1;
}

static int
poll_lob(struct fs_pull *p)
{
	char **ids = NULL;
	int nids = 0;

	if (fs_pieces_in_flight(&p->cli->st, &ids, &nids) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	for (int off = 0; off < nids && !fs_pull_failed(p); off += POLL_PIECES) {
		struct lob_event *ev = NULL;
		int n = 0, cap = 0;

		for (int i = off; i < nids && i < off + POLL_PIECES && !fs_pull_failed(p); i++) {
			char path[256];
			long status;
			jv piece;

			if (strncmp(ids[i], "psc_", 4) != 0 && strncmp(ids[i], "ltr_", 4) != 0) {
				fs_debug("%s: %s is not a Lob postcard or letter id: not polled", p->name, ids[i]);
				continue;
			}
			snprintf(path, sizeof path, "/%s/%s", strncmp(ids[i], "ltr_", 4) == 0 ? "letters" : "postcards",
				 ids[i]);
			piece = fs_pull_call(p, "GET", path, jv_invalid(), "id", &status);
			if (!jv_is_valid(piece))
				continue;
			if (status == 404)
				fs_info("%s: piece %s is not known to Lob", p->name, ids[i]);
			else
				piece_events(piece, &ev, &n, &cap);
			jv_free(piece);
		}
		if (!fs_pull_failed(p) && !p->dry_run)
			lob_emit(p, ev, n, false);
		lob_events_free(ev, n);
	}
	for (int i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	return fs_pull_failed(p) ? -1 : 0;
}

/* One Lob webhook event, kept for lob_emit (the batch's events go out together). */
static int
inbox_row_lob(struct fs_pull *p, const struct fs_inbox_row *r, struct lob_event **out, int *n, int *cap)
{
	jv ev = jv_parse_sized(r->body, (int)r->len), data;
	size_t pos = 0;
	const char *why = NULL, *check = fs_json_check(r->body, r->len, &pos);

	if (check) {
		jv_free(ev);
		return fs_pull_dead(p, r->body, r->len, r->id, "inbox row %lld: %s at byte %zu", (long long)r->id,
			    check, pos + 1);
	}
	if (jv_get_kind(ev) != JV_KIND_OBJECT) {
		jv_free(ev);
		return fs_pull_dead(p, r->body, r->len, r->id, "inbox row %lld: not a JSON object", (long long)r->id);
	}
	data = lob_from_webhook(ev, &why);
	if (!jv_is_valid(data)) {
		jv_free(data);
		return fs_pull_dead(p, r->body, r->len, r->id, "inbox row %lld: %s", (long long)r->id, why);
	}
	if (*n == *cap)
		*out = fs_xrealloc(*out, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **out);
	(*out)[*n].piece = fs_xstrdup(fs_jstr(data, "reference_id"));
	(*out)[*n].key = fs_xstrdup(fs_jstr(data, "id"));
	(*out)[*n].data = data;
	(*out)[*n].inbox_id = r->id;
	(*n)++;
	return 0;
}

/* Events recorded by runs whose checkpoints were never committed are emitted again. */
static int
forget_uncommitted(struct fs_pull *p)
{
	int64_t poll, inbox;

	if (fs_pull_cursor_number(p, "poll", &poll) != 0 || fs_pull_cursor_number(p, "inbox", &inbox) != 0)
		return -1;
	if (fs_poll_forget_uncommitted(&p->cli->st, p->name, poll) != 0 ||
	    fs_poll_forget_undrained(&p->cli->st, p->name, inbox) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	return 0;
}

/* One batch of inbox rows: their events, those not emitted before (no dry run: the rows are only counted). */
static int
lob_inbox(struct fs_pull *p, const struct fs_inbox_row *rows, int n)
{
	struct lob_event *ev = NULL;
	int nev = 0, cap = 0;

	if (p->dry_run)
		return 0;
	for (int i = 0; i < n && !fs_pull_failed(p); i++)
		inbox_row_lob(p, &rows[i], &ev, &nev, &cap);
	if (!fs_pull_failed(p))
		lob_emit(p, ev, nev, true);
	lob_events_free(ev, nev);
	return fs_pull_failed(p) ? -1 : 0;
}

static int
lob_start(struct fs_pull *p)
{
	if (fs_source_mode(&p->cli->st, p->name, p->mode) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (!p->dry_run && forget_uncommitted(p) != 0)
		return -1;
	return 0;
}

/* In polling mode, after the inbox: the pieces in flight, asked of Lob one by one. */
static int
lob_poll(struct fs_pull *p)
{
	if (strcmp(p->mode, "polling") != 0)
		return 0;
	if (fs_pull_http_setup(p, true) != 0)
		return -1;
	return poll_lob(p);
}

/* ---- push: requests and answers (fs-push) ---- */

/* Characters (code points) in a UTF-8 string. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* The first max characters of s, trailing spaces dropped. */
static jv
cut(const char *s, size_t max)
{
	size_t n = 0, i = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == max)
			break;
	}
	while (i > 0 && s[i - 1] == ' ')
		i--;
	return jv_string_sized(s, (int)i);
}

static bool
is_us(const char *country)
{
	return country == NULL || *country == '\0' || strcmp(country, "US") == 0;
}

/* metadata values: at most 500 characters, no '"' or '\'. */
static jv
meta_value(const char *s)
{
	if (s == NULL || strpbrk(s, "\"\\") != NULL)
		return jv_invalid();
	return cut(s, 500);
}

static jv
lob_address(jv to, struct fs_buf *why)
{
	static const struct {
		const char *from, *to;
		bool line;
	} keys[] = {
		{"line1", "address_line1", true}, {"line2", "address_line2", true},
		{"city", "address_city", false}, {"region", "address_state", false},
		{"postal_code", "address_zip", false}, {NULL, NULL, false},
	};
	const char *country = fs_jstr(to, "country"), *name = fs_jstr(to, "name");
	size_t line_max = is_us(country) ? 64 : 200;
	jv a = jv_object();

	if (name && *name)
		a = jv_object_set(a, jv_string("name"), cut(name, 40));
	if (fs_jstr(to, "company") && *fs_jstr(to, "company"))
		a = jv_object_set(a, jv_string("company"), cut(fs_jstr(to, "company"), 40));
	for (int i = 0; keys[i].from; i++) {
		const char *v = fs_jstr(to, keys[i].from);

		if (v == NULL || *v == '\0')
			continue;
		if (keys[i].line && chars(v) > line_max)
			fs_buf_addf(why, "%sto.%s is longer than %zu characters (Lob's limit)",
				    why->len ? "; " : "", keys[i].from, line_max);
		else if (!keys[i].line && chars(v) > 200)
			fs_buf_addf(why, "%sto.%s is longer than 200 characters (Lob's limit)",
				    why->len ? "; " : "", keys[i].from);
		a = jv_object_set(a, jv_string(keys[i].to), jv_string(v));
	}
	a = jv_object_set(a, jv_string("address_country"), jv_string(is_us(country) ? "US" : country));
	return a;
}

int
fs_lob_create_body(jv ev, const struct fs_lob_opts *o, const char **resource, char **body, struct fs_buf *why)
{
	jv data = fs_jget(ev, "data"), to = fs_jget(data, "to"), req = jv_object(), meta = jv_object(), v;
	const char *format = fs_jstr(data, "format"), *template = fs_jstr(data, "template");
	const char *back = fs_jstr(data, "back"), *from = fs_jstr(data, "from");
	const char *campaign = fs_jstr(data, "campaign"), *contact = fs_jstr(data, "contact_id");
	bool letter = format && strcmp(format, "letter") == 0;
	char *desc;

	*body = NULL;
	*resource = letter ? "letters" : "postcards";
	if (format && !letter && strcmp(format, "postcard") != 0)
		fs_buf_addf(why, "%sformat must be postcard or letter, not \"%s\"", why->len ? "; " : "", format);
	if (jv_get_kind(to) != JV_KIND_OBJECT)
		fs_buf_addf(why, "%smissing \"to\"", why->len ? "; " : "");
	if (template == NULL)
		fs_buf_addf(why, "%scampaign \"%s\" has no template", why->len ? "; " : "", campaign ? campaign : "");
	if (letter && from == NULL)
		fs_buf_addf(why, "%sa letter needs a return address: campaign \"%s\" has no 'from'",
			    why->len ? "; " : "", campaign ? campaign : "");
	if (jv_get_kind(to) == JV_KIND_OBJECT)
		req = jv_object_set(req, jv_string("to"), lob_address(to, why));
	if (from)
		req = jv_object_set(req, jv_string("from"), jv_string(from));
	if (letter) {
		if (template)
			req = jv_object_set(req, jv_string("file"), jv_string(template));
		req = jv_object_set(req, jv_string("color"), jv_bool(o->color));
	} else if (template) {
		req = jv_object_set(req, jv_string("front"), jv_string(template));
		req = jv_object_set(req, jv_string("back"), jv_string(back ? back : template));
	}
	if (o->size)
		req = jv_object_set(req, jv_string("size"), jv_string(o->size));
	if (o->mail_type)
		req = jv_object_set(req, jv_string("mail_type"), jv_string(o->mail_type));
	if (o->send_date)
		req = jv_object_set(req, jv_string("send_date"), jv_string(o->send_date));
	req = jv_object_set(req, jv_string("use_type"), o->use_type ? jv_string(o->use_type) : jv_null());
	desc = fs_xasprintf("fieldsync %s for contact %s", campaign ? campaign : "", contact ? contact : "");
	req = jv_object_set(req, jv_string("description"), cut(desc, 255));
	free(desc);
	if (jv_is_valid(v = meta_value(fs_jstr(ev, "id"))))
		meta = jv_object_set(meta, jv_string("event_id"), v);
	if (jv_is_valid(v = meta_value(contact)))
		meta = jv_object_set(meta, jv_string("contact_id"), v);
	if (jv_is_valid(v = meta_value(campaign)))
		meta = jv_object_set(meta, jv_string("campaign"), v);
	req = jv_object_set(req, jv_string("metadata"), meta);
	jv_free(to);
	jv_free(data);
	if (why->len > 0) {
		jv_free(req);
		return -1;
	}
	*body = fs_jdump(req);
	jv_free(req);
	return 0;
}

int
fs_lob_piece_parse(const char *resp, char **vendor_id, char **created_at)
{
	jv v = jv_parse(resp ? resp : "");
	const char *id, *at;
	int rc = -1;

	*vendor_id = *created_at = NULL;
	if (jv_get_kind(v) == JV_KIND_OBJECT && (id = fs_jstr(v, "id")) != NULL &&
	    (strncmp(id, "psc_", 4) == 0 || strncmp(id, "ltr_", 4) == 0)) {
		fs_time t;
		char buf[21];

		*vendor_id = fs_xstrdup(id);
		if ((at = fs_jstr(v, "date_created")) != NULL && fs_time_parse(at, &t) == 0) {
			fs_time_format(t, buf);
			*created_at = fs_xstrdup(buf);
		}
		rc = 0;
	}
	jv_free(v);
	return rc;
}

int
fs_lob_list_first(const char *resp, char **vendor_id, char **created_at)
{
	jv v = jv_parse(resp ? resp : ""), data = fs_jget(v, "data");
	int rc = -1;

	*vendor_id = *created_at = NULL;
	if (jv_get_kind(data) == JV_KIND_ARRAY) {
		rc = 0;
		/* Listed newest first; the piece that counts is the first one made. */
		for (int i = jv_array_length(jv_copy(data)) - 1; i >= 0 && *vendor_id == NULL; i--) {
			jv p = jv_array_get(jv_copy(data), i), del = fs_jget(p, "deleted");
			char *s = fs_jdump(p);

			if (jv_get_kind(p) != JV_KIND_OBJECT || jv_get_kind(del) == JV_KIND_TRUE) {
				/* a canceled piece does not count */
			} else if (fs_lob_piece_parse(s, vendor_id, created_at) != 0) {
				rc = -1;
			}
			free(s);
			jv_free(del);
			jv_free(p);
		}
	}
	jv_free(data);
	jv_free(v);
	return rc;
}

char *
fs_lob_error(const char *resp, char **code)
{
	jv v = jv_parse(resp ? resp : ""), err = fs_jget(v, "error");
	char *msg = NULL;

	*code = NULL;
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		if (fs_jstr(err, "code"))
			*code = fs_xstrdup(fs_jstr(err, "code"));
		if (fs_jstr(err, "message"))
			msg = fs_xstrdup(fs_jstr(err, "message"));
	}
	jv_free(err);
	jv_free(v);
	return msg;
}

const char *
fs_lob_resource_of(const char *vendor_id)
{
	if (strncmp(vendor_id, "psc_", 4) == 0)
		return "postcards";
	if (strncmp(vendor_id, "ltr_", 4) == 0)
		return "letters";
	return NULL;
}

const struct fs_vendor fs_vendor_lob_events = {
	.kind = "lob-events",
	.flags = FS_VENDOR_INBOX | FS_VENDOR_POLLED,
	.saved_stream = "events",
	.start = lob_start,
	.inbox = lob_inbox,
	.poll = lob_poll,
};
