/*
 * Lob's connector.  Pull (kind lob-events): the tracking events of pieces,
 * from the webhook inbox and, in polling mode, from the pieces in flight.
 *
 * Push (kind lob, fs-push): a mail.requested event's piece, created with
 * POST /postcards or POST /letters (the body as Lob's OpenAPI spec defines
 * it) under the event id as its Idempotency-Key, after a look for it by
 * metadata whenever an earlier attempt may have made it; and cancelled with
 * DELETE while it waits for its send date (fs-push cancel).
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
piece_events(jv piece, struct fs_piece_event **ev, int *n, int *cap)
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
		struct fs_piece_event *ev = NULL;
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
			fs_pull_emit_events(p, ev, n, false);
		fs_piece_events_free(ev, n);
	}
	for (int i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	return fs_pull_failed(p) ? -1 : 0;
}

/* One Lob webhook event, kept for fs_pull_emit_events (the batch's events go out together). */
static int
inbox_row_lob(struct fs_pull *p, const struct fs_inbox_row *r, struct fs_piece_event **out, int *n, int *cap)
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
	struct fs_piece_event *ev = NULL;
	int nev = 0, cap = 0;

	if (p->dry_run)
		return 0;
	for (int i = 0; i < n && !fs_pull_failed(p); i++)
		inbox_row_lob(p, &rows[i], &ev, &nev, &cap);
	if (!fs_pull_failed(p))
		fs_pull_emit_events(p, ev, nev, true);
	fs_piece_events_free(ev, nev);
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

/* A target's settings for its create bodies. */
struct lob_opts {
	const char *use_type;	/* "marketing", "operational", NULL for null */
	const char *size, *mail_type;	/* NULL: Lob's default */
	bool color;		/* letters */
	const char *send_date;	/* RFC 3339: the piece waits (and can be cancelled) until then; NULL: Lob's window */
};

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

/* The body of POST /postcards or /letters for a mail.requested event; -1
 * with the reasons in why (the row goes to the DLQ without a request). */
static int
create_body(jv ev, const struct lob_opts *o, const char **resource, char **body, struct fs_buf *why)
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

/* A created piece: its id (psc_, ltr_) and creation time; -1 if not one. */
static int
piece_parse(const char *resp, char **vendor_id, char **created_at)
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

/* A list answer: the oldest live piece in it (NULL when none); -1 if not a list. */
static int
list_first(const char *resp, char **vendor_id, char **created_at)
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
			} else if (piece_parse(s, vendor_id, created_at) != 0) {
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

/* An error body's message and code, malloc'd. */
static char *
lob_error(const char *resp, char **code)
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

/* "postcards" for psc_, "letters" for ltr_, else NULL. */
static const char *
resource_of(const char *vendor_id)
{
	if (strncmp(vendor_id, "psc_", 4) == 0)
		return "postcards";
	if (strncmp(vendor_id, "ltr_", 4) == 0)
		return "letters";
	return NULL;
}

/* ---- push: pieces created, looked for and cancelled (fs-push, kind lob) ---- */

enum stage { LIST, CREATE };

/* One piece's requests: a look for it, its create, a last look before its dead letter. */
struct lob_req {
	struct fs_push_req r;	/* first: lib/push.c's part */
	enum stage stage;
	const char *resource;	/* "postcards", "letters" */
	char *create_body;
	bool tried;		/* this run's attempt is counted (a look and a create are one) */
	bool listed;
	char send_date[21];	/* the send date asked for, "" for none */
	char *dead_reason;	/* the dead letter's reason while the last look asks */
};

static void
lob_req_clear(struct fs_push_req *r)
{
	struct lob_req *lr = (struct lob_req *)r;

	free(lr->create_body);
	free(lr->dead_reason);
}

/* The last look: asked for the piece before its dead letter (which tells of the failed create). */
static bool
last_look(const struct lob_req *lr)
{
	return lr->r.answer_kept;
}

static int
lob_push_start(struct fs_push *p)
{
	const char *use_type = fs_push_setting(p, "use_type"), *color = fs_push_setting(p, "color");
	struct lob_opts *o;

	if (strcmp(use_type, "marketing") != 0 && strcmp(use_type, "operational") != 0) {
		fs_err("target '%s': use_type must be marketing or operational, not '%s'", p->target, use_type);
		return -1;
	}
	o = fs_xmalloc(sizeof *o);
	memset(o, 0, sizeof *o);
	o->use_type = use_type;
	o->size = fs_push_setting(p, "size");
	o->mail_type = fs_push_setting(p, "mail_type");
	o->color = strcmp(color, "true") == 0 || strcmp(color, "yes") == 0;
	p->settings = o;
	return 0;
}

static void
lob_request(struct fs_push *p, struct lob_req *lr, enum stage stage)
{
	struct fs_push_job *j = &lr->r.j;
	bool letters = strcmp(lr->resource, "letters") == 0;

	fs_push_job_clear(j);
	lr->stage = stage;
	if (stage == LIST) {
		char *id = fs_urlencode(lr->r.rows[0].event_id);

		j->url = fs_xasprintf("%s/%s?metadata%%5Bevent_id%%5D=%s&limit=10", p->url, lr->resource, id);
		j->method = "GET";
		j->bucket = letters ? "GET /letters" : "GET /postcards";
		free(id);
		lr->listed = true;
	} else {
		char *hdr = fs_xasprintf("Idempotency-Key: %s", lr->r.rows[0].event_id);

		fs_push_job_header(j, hdr);
		free(hdr);
		j->url = fs_xasprintf("%s/%s", p->url, lr->resource);
		j->body = fs_xstrdup(lr->create_body);
		j->method = "POST";
		j->bucket = letters ? "POST /letters" : "POST /postcards";
	}
}

/*
 * send_delay: the piece waits at Lob, cancellable, until then.  The date
 * counts from the row's first attempt, so that a retry sends the same body
 * under the same idempotency key.  Once that date is (nearly) past, Lob
 * would refuse it: the retry looks for the piece first (true), and asks
 * for a new date only when there is none.  out is "" without a delay.
 */
static bool
send_date(struct fs_push *p, const struct fs_outbox_row *r, char out[21])
{
	int64_t delay = 0;
	fs_time first, at;
	bool passed = false;

	if (r->campaign == NULL || fs_campaign_send_delay(&p->cli->cfg, r->campaign, &delay) != 0 || delay <= 0)
		return false;
	first = fs_now();
	fs_time_parse(r->first_attempt_at, &first);
	at = first + delay;
	if ((r->attempts > 0 || r->claims > 1) && at <= fs_now() + 60) {
		passed = true;
		at = fs_now() + delay;
	}
	fs_time_format(at, out);
	return passed;
}

/*
 * True when a create may have made the piece without fs-push hearing of
 * it: no answer (a dropped or cut connection, a timeout), a 5xx (a gateway
 * may answer after Lob made it), or a 2xx that could not be read.
 */
static bool
may_exist(jv hist)
{
	bool maybe = false;

	jv_array_foreach(hist, i, a) {
		const char *req = fs_jstr(a, "request");
		jv status = fs_jget(a, "http_status");
		double s = jv_get_kind(status) == JV_KIND_NUMBER ? jv_number_value(status) : 0;

		(void)i;
		if (req && strncmp(req, "POST ", 5) == 0 &&
		    (s == 0 || s >= 500 || (s >= 200 && s < 300 && fs_jstr(a, "error"))))
			maybe = true;
		jv_free(status);
		jv_free(a);
	}
	return maybe;
}

/* The next piece's request: its create, or first a look for it; NULL when no row is left. */
static struct fs_push_job *
lob_create(struct fs_push *p)
{
	struct fs_outbox_row *row;

	while ((row = fs_push_next_row(p)) != NULL) {
		struct lob_req *lr = (struct lob_req *)fs_push_req_new(1, sizeof *lr);
		struct fs_outbox_row *r = &lr->r.rows[0];
		struct lob_opts o = *(const struct lob_opts *)p->settings;
		struct fs_buf why = {0};
		bool date_passed;
		jv ev;

		lr->r.clear = lob_req_clear;
		fs_push_req_take(&lr->r, row);
		ev = jv_parse(r->line);
		date_passed = send_date(p, r, lr->send_date);
		if (lr->send_date[0])
			o.send_date = lr->send_date;
		if (jv_get_kind(ev) != JV_KIND_OBJECT ||
		    create_body(ev, &o, &lr->resource, &lr->create_body, &why) != 0) {
			fs_push_dead_local(p, &lr->r, why.len ? why.data : "not a mail.requested event");
			fs_buf_free(&why);
			jv_free(ev);
			fs_push_req_free(&lr->r);
			continue;
		}
		fs_buf_free(&why);
		jv_free(ev);
		/* Ask whether the piece exists before making one when an earlier
		 * attempt may have made it: a replay, an attempt whose answer never
		 * came (or came unreadable, or 5xx), a claim that died on the way.
		 * Lob's idempotency key would answer for a day, but no clock here
		 * can tell a day reliably (one set back, or $FS_NOW): a look costs
		 * one GET and is right whenever it is made. */
		lob_request(p, lr, r->check_vendor || r->claims > 1 || may_exist(lr->r.hist[0]) || date_passed ? LIST
														: CREATE);
		return &lr->r.j;
	}
	return NULL;
}

/* The piece is at Lob: made now, or found there by a look (adopted). */
static int
piece_at_lob(struct fs_push *p, struct lob_req *lr, const char *vendor_id, bool adopted)
{
	bool letter = strcmp(lr->resource, "letters") == 0;
	char *found_by = adopted ? fs_xasprintf("GET /%s?metadata[event_id]", lr->resource) : NULL;
	struct fs_push_piece pc = {
		.vendor_id = vendor_id, .detail = letter ? "letter.created" : "postcard.created", .found_by = found_by,
		.send_date = lr->send_date[0] ? lr->send_date : NULL,
	};
	int rc = fs_push_piece_sent(p, &lr->r, &pc);

	free(found_by);
	return rc;
}

/*
 * A row that failed (retry says whether the failure may pass).  Before its
 * dead letter, when an earlier create may have made the piece unseen, Lob
 * is asked for it by metadata: returns 2 when that request is queued.
 */
static int
lob_failed(struct fs_push *p, struct lob_req *lr, const char *error, bool retry)
{
	struct fs_push_req *r = &lr->r;
	char *reason;
	int rc;

	if (retry) {
		snprintf(p->last_error, sizeof p->last_error, "%s", error);
		if ((reason = fs_push_gave_up(p, r, 0, error)) == NULL)
			return fs_push_row_retry(p, r, 0, error);
	} else {
		reason = fs_xstrdup(error);
	}
	if (lr->stage == CREATE && !last_look(lr) && may_exist(r->hist[0])) {
		r->answer_kept = true;
		r->kept_status = r->j.http_status;
		r->kept_resp = r->j.http_status && r->j.resp.len ? fs_xstrdup(r->j.resp.data) : NULL;
		lr->dead_reason = reason;
		lob_request(p, lr, LIST);
		return 2;
	}
	if (lr->stage == LIST) {
		/* Lob was asked because a piece may exist (a replay, a retry past the
		 * key window, a conflict), and the asking failed. */
		char *why = fs_xasprintf("%s; the piece may exist at Lob (looking it up failed):"
					 " fs-dlq replay looks it up again and adopts it", reason);

		free(reason);
		reason = why;
	}
	rc = fs_push_row_dead(p, r, 0, reason);
	free(reason);
	return rc;
}

/* The answer to the last look: adopt the piece, or write the dead letter. */
static int
last_look_done(struct fs_push *p, struct lob_req *lr)
{
	struct fs_push_job *j = &lr->r.j;
	char *vid = NULL, *at = NULL, *err = NULL, *reason;
	int rc;

	if (j->http_status >= 200 && j->http_status < 300 && list_first(j->resp.data, &vid, &at) == 0) {
		p->accepted++;
		fs_push_attempt(&lr->r, 0, NULL);
		rc = vid ? piece_at_lob(p, lr, vid, true) : fs_push_row_dead(p, &lr->r, 0, lr->dead_reason);
		free(vid);
		free(at);
		return rc;
	}
	err = j->http_status >= 200 && j->http_status < 300 ? fs_xstrdup("unreadable list answer")
							     : fs_push_answer_error(j);
	fs_push_attempt(&lr->r, 0, err);
	reason = fs_xasprintf("%s; the piece may exist at Lob (looking it up failed: %s):"
			      " fs-dlq replay looks it up again and adopts it", lr->dead_reason, err);
	rc = fs_push_row_dead(p, &lr->r, 0, reason);
	free(reason);
	free(err);
	return rc;
}

/* A 2xx: the look's list, or the created piece. */
static int
lob_accepted(struct fs_push *p, struct lob_req *lr)
{
	struct fs_push_job *j = &lr->r.j;
	bool look = lr->stage == LIST;
	char *vid = NULL, *at = NULL;
	int unreadable = look ? list_first(j->resp.data, &vid, &at) : piece_parse(j->resp.data, &vid, &at);
	int rc;

	if (look && unreadable == 0 && vid == NULL) {
		/* The vendor has none: make it now.  A look that finds no piece
		 * is not the vendor taking anything: a storm refusing every
		 * create still exits 4. */
		fs_push_attempt(&lr->r, 0, NULL);
		lob_request(p, lr, CREATE);
		rc = 2;
	} else {
		const char *why = look ? "unreadable list answer" : "unreadable answer";

		p->accepted++;
		fs_push_attempt(&lr->r, 0, unreadable ? why : NULL);
		rc = unreadable ? lob_failed(p, lr, why, true) : piece_at_lob(p, lr, vid, look);
	}
	free(vid);
	free(at);
	return rc;
}

/* A refusal or no answer: a conflict is looked up, the rest retried or dead-lettered. */
static int
lob_refused(struct fs_push *p, struct lob_req *lr)
{
	struct fs_push_job *j = &lr->r.j;
	char *err = fs_push_answer_error(j), *code = NULL, *msg;
	int rc;

	fs_push_attempt(&lr->r, 0, err);
	msg = lob_error(j->resp.data, &code);
	free(msg);
	if (lr->stage == CREATE && j->http_status == 422 && code && strcmp(code, "conflict") == 0 && !lr->listed) {
		/* The key was used with other parameters: find what it made. */
		lob_request(p, lr, LIST);
		rc = 2;
	} else {
		rc = lob_failed(p, lr, err, fs_push_transient(j->http_status));
	}
	free(code);
	free(err);
	return rc;
}

static int
lob_answer(struct fs_push *p, struct fs_push_job *j)
{
	struct lob_req *lr = (struct lob_req *)j->user;
	int rc;

	/* An attempt is a run's try at the row: the look before a create, the
	 * create, and the look before its dead letter are one, so that a
	 * vendor refusing creates for hours spends one attempt per retry, as
	 * `retry` promises, not two. */
	if (!lr->tried) {
		lr->r.tries[0]++;
		lr->tried = true;
	}
	if (last_look(lr))
		rc = last_look_done(p, lr);
	else if (j->http_status >= 200 && j->http_status < 300)
		rc = lob_accepted(p, lr);
	else
		rc = lob_refused(p, lr);
	if (rc == 2)
		return 1;	/* the next request for the piece goes out */
	fs_push_req_free(&lr->r);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* fs-push cancel: DELETE while the piece waits for its send date. */
static int
lob_cancel(struct fs_push *p, const char *vendor_id)
{
	const char *resource = resource_of(vendor_id);
	struct fs_http_response resp;
	char *path, *msg, *code = NULL;
	int rc = 0;

	if (resource == NULL) {
		fs_err("cancel: %s is not a Lob postcard or letter", vendor_id);
		return 1;
	}
	path = fs_xasprintf("/%s/%s", resource, vendor_id);
	if (fs_http_request(&p->easy, "DELETE", path, NULL, NULL, &resp) != 0) {
		fs_err("cancel: %s: %s unreachable", vendor_id, p->target);
		rc = -1;
	} else if (resp.status < 200 || resp.status >= 300) {
		msg = lob_error(resp.body.data, &code);
		fs_err("cancel: could not cancel %s: HTTP %ld%s%s%s", vendor_id, resp.status, msg ? ": " : "",
		       msg ? msg : "", resp.status == 422 ? " (past its send date: it is being printed or mailed)" : "");
		free(msg);
		free(code);
		rc = 1;
	}
	fs_http_response_free(&resp);
	free(path);
	return rc;
}

const struct fs_vendor fs_vendor_lob_events = {
	.kind = "lob-events",
	.flags = FS_VENDOR_INBOX | FS_VENDOR_POLLED,
	.saved_stream = "events",
	.start = lob_start,
	.inbox = lob_inbox,
	.poll = lob_poll,
};

static const char *const lob_takes[] = {"mail.requested", NULL};

const struct fs_vendor fs_vendor_lob = {
	.kind = "lob",
	.flags = FS_VENDOR_KEY_AS_USER,
	.pulled_as = "lob-events",	/* its tracking events */
	.takes = lob_takes,
	.push_start = lob_push_start,
	.create = lob_create,
	.answer = lob_answer,
	.cancel = lob_cancel,
};
