/*
 * PostcardMania's connector (PCM Integrations' DirectMail API v3).
 *
 * Both sides log in first: POST /auth/login with the API key and secret
 * answers a bearer token, which is asked for again when it has expired
 * (a 401), once for the requests sent with it.
 *
 * Push (kind postcardmania, fs-push): a mail.requested event's order, made
 * with POST /order/postcard or /order/letter for one recipient, under the
 * event id as its external reference number (extRefNbr).  PostcardMania
 * answers a repeated reference with 409: the order it has is looked up
 * (GET /order?extRefNbr=) and adopted, whatever made it (a re-run after a
 * kill, a lost answer, a replay).  Cancelled with DELETE /order/ID until
 * the order day's cutoff (fs-push cancel); after it, the refusal is
 * reported as Lob's is.
 *
 * Pull (kind postcardmania-events, fs-pull): PostcardMania sends no status
 * webhooks, so the orders in flight are polled (GET /order/ID) and each
 * status an order enters is one record, emitted once: the shipped map
 * (postcardmania-event.jq) makes it a mail.status event.
 *
 * fieldsync names an order "pcm_ORDERID" in its state file and events, so
 * that its pieces and Lob's (psc_, ltr_) never meet under one id.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

#define POLL_ORDERS 50		/* polled orders per checkpoint */
#define ID_PREFIX "pcm_"

/* ---- the login, for both sides ---- */

/* The run's credentials and token: one target or source a process. */
static struct {
	char *key, *secret, *token;
	const char *child;	/* childRefNbr, or NULL */
	int gen;		/* counts logins: a request sent with an older token is sent again */
} auth;

static void
auth_free(void)
{
	fs_secret_free(auth.key);
	fs_secret_free(auth.secret);
	fs_secret_free(auth.token);
	memset(&auth, 0, sizeof auth);
}

/* The key and secret of an endpoint; -1 with what is missing said. */
static int
auth_load(const struct fs_endpoint *ep, const char *what)
{
	const char *kenv = fs_setting(ep, "token_env"), *senv = fs_setting(ep, "secret_env");

	auth_free();
	auth.key = fs_endpoint_secret(ep, "token_env", "token_file");
	auth.secret = fs_endpoint_secret(ep, "secret_env", "secret_file");
	auth.child = fs_setting(ep, "child_ref");
	if (auth.key == NULL) {
		fs_err("%s '%s': no API key: %s%s", what, ep->name, kenv ? "set $" : "see ", kenv ? kenv : "token_file");
		return -1;
	}
	if (auth.secret == NULL) {
		fs_err("%s '%s': no API secret: %s%s", what, ep->name, senv ? "set $" : "see ",
		       senv ? senv : "secret_file");
		return -1;
	}
	return 0;
}

/* POST /auth/login; the token onto h.  0, or -1 said with *status the exit status. */
static int
login(struct fs_http *h, int *status)
{
	jv body = jv_object(), ans;
	struct fs_http_response r;
	char *text;
	const char *token;
	int rc;

	body = jv_object_set(body, jv_string("apiKey"), jv_string(auth.key));
	body = jv_object_set(body, jv_string("apiSecret"), jv_string(auth.secret));
	if (auth.child)
		body = jv_object_set(body, jv_string("childRefNbr"), jv_string(auth.child));
	text = fs_jdump(body);
	jv_free(body);
	rc = fs_http_request(h, "POST", "/auth/login", text, NULL, &r);
	fs_secret_free(text);
	if (rc != 0) {
		fs_err("%s: POST /auth/login: PostcardMania unreachable", h->name);
		fs_http_response_free(&r);
		*status = FS_EXIT_REMOTE;
		return -1;
	}
	ans = jv_parse_sized(r.body.len ? r.body.data : "null", r.body.len ? (int)r.body.len : 4);
	token = fs_jstr(ans, "token");
	if (r.status < 200 || r.status >= 300 || token == NULL) {
		const char *msg = fs_jstr(ans, "message");

		fs_err("%s: POST /auth/login: HTTP %ld%s%s%s", h->name, r.status, msg ? ": " : "", msg ? msg : "",
		       r.status == 401 || r.status == 403 ? " (check the API key and secret)" : "");
		*status = r.status == 401 || r.status == 403 ? FS_EXIT_USAGE : FS_EXIT_REMOTE;
		jv_free(ans);
		fs_http_response_free(&r);
		return -1;
	}
	fs_secret_free(auth.token);
	auth.token = fs_xstrdup(token);
	auth.gen++;
	fs_http_bearer(h, auth.token);
	fs_debug("%s: logged in (token %d)", h->name, auth.gen);
	jv_free(ans);
	fs_http_response_free(&r);
	return 0;
}

/* "pcm_1001" -> "1001"; NULL if not one of ours. */
static const char *
order_number(const char *vendor_id)
{
	size_t n = strlen(ID_PREFIX);

	if (strncmp(vendor_id, ID_PREFIX, n) != 0 || vendor_id[n] == '\0' ||
	    strspn(vendor_id + n, "0123456789") != strlen(vendor_id + n))
		return NULL;
	return vendor_id + n;
}

/* An order's id as fieldsync names it (malloc'd), from a number or a string; NULL if none. */
static char *
vendor_id_of(jv order)
{
	jv id = fs_jget(order, "orderID");
	char *out = NULL;

	if (jv_get_kind(id) == JV_KIND_NUMBER && jv_number_value(id) > 0)
		out = fs_xasprintf(ID_PREFIX "%.0f", jv_number_value(id));
	else if (jv_get_kind(id) == JV_KIND_STRING && *jv_string_value(id) &&
		 strspn(jv_string_value(id), "0123456789") == strlen(jv_string_value(id)))
		out = fs_xasprintf(ID_PREFIX "%s", jv_string_value(id));
	jv_free(id);
	return out;
}

/* ---- pull: the orders in flight, polled (kind postcardmania-events) ---- */

struct piece_ctx {
	char *contact, *campaign;
};

static int
piece_found(const struct fs_piece_row *r, void *ctx)
{
	struct piece_ctx *c = ctx;

	c->contact = r->contact_id ? fs_xstrdup(r->contact_id) : NULL;
	c->campaign = r->campaign ? fs_xstrdup(r->campaign) : NULL;
	return 0;
}

/*
 * The record of an order in its status: {"id":"pcm_1001:Mailing",
 * "vendor_id":"pcm_1001","status":"Mailing","seen_at":T,"order":{…},
 * "contact_id":…,"campaign":…}: the contact and campaign from the state
 * file's piece, since an order carries neither.
 */
static int
order_event(struct fs_pull *p, const char *vid, jv order, struct fs_piece_event **ev, int *n, int *cap)
{
	const char *status = fs_jstr(order, "status");
	struct piece_ctx pc = {NULL, NULL};
	jv d = jv_object();

	if (status == NULL || *status == '\0') {
		fs_info("%s: order %s has no status", p->name, vid);
		jv_free(order);
		return 0;
	}
	if (fs_outbox_piece(&p->cli->st, vid, piece_found, &pc) < 0) {
		jv_free(order);
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	if (*n == *cap)
		*ev = fs_xrealloc(*ev, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof **ev);
	(*ev)[*n].piece = fs_xstrdup(vid);
	(*ev)[*n].key = fs_xasprintf("%s:%s", vid, status);
	(*ev)[*n].inbox_id = 0;
	d = jv_object_set(d, jv_string("id"), jv_string((*ev)[*n].key));
	d = jv_object_set(d, jv_string("vendor_id"), jv_string(vid));
	d = jv_object_set(d, jv_string("status"), jv_string(status));
	d = jv_object_set(d, jv_string("seen_at"), jv_string(p->now));
	d = jv_object_set(d, jv_string("contact_id"), pc.contact ? jv_string(pc.contact) : jv_null());
	d = jv_object_set(d, jv_string("campaign"), pc.campaign ? jv_string(pc.campaign) : jv_null());
	d = jv_object_set(d, jv_string("order"), order);
	(*ev)[*n].data = d;
	(*n)++;
	free(pc.contact);
	free(pc.campaign);
	return 0;
}

/* GET /order/N, logging in again once after a 401; the order, or jv_invalid() (404: jv_null()). */
static jv
get_order(struct fs_pull *p, const char *vid)
{
	char *path = fs_xasprintf("/order/%s", order_number(vid));
	int gen = auth.gen, status = FS_EXIT_OK;
	jv out = jv_invalid();

	for (int tries = 0; tries < 2; tries++) {
		struct fs_http_response r;
		int rc = fs_http_request(&p->http, "GET", path, NULL, NULL, &r);

		if (rc == 1) {	/* a dry run */
			fs_http_response_free(&r);
			break;
		}
		if (rc != 0) {
			fs_err("%s: GET %s: PostcardMania unreachable", p->name, path);
			fs_pull_fail(p, FS_EXIT_REMOTE);
		} else if (r.status == 401 && tries == 0 && (auth.gen != gen || login(&p->http, &status) == 0)) {
			fs_http_response_free(&r);
			continue;
		} else if (r.status == 401) {
			if (status == FS_EXIT_OK)
				fs_err("%s: GET %s: HTTP 401 after a new login", p->name, path);
			fs_pull_fail(p, status == FS_EXIT_OK ? FS_EXIT_USAGE : status);
		} else if (r.status == 404) {
			fs_info("%s: order %s is not known to PostcardMania", p->name, vid);
			out = jv_null();
		} else if (r.status < 200 || r.status >= 300 ||
			   jv_get_kind(out = jv_parse_sized(r.body.data ? r.body.data : "", (int)r.body.len)) !=
				   JV_KIND_OBJECT) {
			jv_free(out);
			out = jv_invalid();
			fs_err("%s: GET %s: HTTP %ld%s", p->name, path, r.status,
			       r.status >= 200 && r.status < 300 ? ": not an order" : "");
			fs_pull_fail(p, FS_EXIT_REMOTE);
		}
		fs_http_response_free(&r);
		break;
	}
	free(path);
	return out;
}

static int
pcm_events_start(struct fs_pull *p)
{
	int64_t poll;

	if (!p->dry_run) {
		if (fs_pull_cursor_number(p, "poll", &poll) != 0)
			return -1;
		if (fs_poll_forget_uncommitted(&p->cli->st, p->name, poll) != 0) {
			fs_pull_fail(p, FS_EXIT_STATE);
			return -1;
		}
	}
	if (fs_pull_http_base(p) != 0)
		return -1;
	if (p->dry_run)
		return 0;
	if (auth_load(&p->ep, "source") != 0) {
		fs_pull_fail(p, FS_EXIT_USAGE);
		return -1;
	}
	return 0;
}

/* Every run: PostcardMania has no status webhooks, so the orders in flight are asked for one by one. */
static int
pcm_events_poll(struct fs_pull *p)
{
	char **ids = NULL;
	int nids = 0, status = FS_EXIT_OK;
	bool logged_in = p->dry_run;

	if (fs_pieces_in_flight(&p->cli->st, &ids, &nids) != 0) {
		fs_pull_fail(p, FS_EXIT_STATE);
		return -1;
	}
	for (int off = 0; off < nids && !fs_pull_failed(p); off += POLL_ORDERS) {
		struct fs_piece_event *ev = NULL;
		int n = 0, cap = 0;

		for (int i = off; i < nids && i < off + POLL_ORDERS && !fs_pull_failed(p); i++) {
			jv order;

			if (order_number(ids[i]) == NULL) {
				fs_debug("%s: %s is not a PostcardMania order: not polled", p->name, ids[i]);
				continue;
			}
			if (!logged_in) {
				if (login(&p->http, &status) != 0) {
					fs_pull_fail(p, status);
					break;
				}
				logged_in = true;
			}
			order = get_order(p, ids[i]);
			if (jv_get_kind(order) == JV_KIND_OBJECT)
				order_event(p, ids[i], order, &ev, &n, &cap);
			else
				jv_free(order);
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

static void
pcm_events_after(struct fs_pull *p)
{
	(void)p;
	auth_free();
}

/* ---- push: orders made, looked up and cancelled (kind postcardmania) ---- */

struct pcm_opts {
	const char *mail_class, *size;
};

enum stage { CREATE, LOOK };

struct pcm_req {
	struct fs_push_req r;	/* first: lib/push.c's part */
	enum stage stage;
	bool letter, tried, relogged;
	int gen;		/* the token it was sent with */
	char *body;
};

static void
req_clear(struct fs_push_req *r)
{
	free(((struct pcm_req *)r)->body);
}

static int
pcm_push_start(struct fs_push *p)
{
	const char *mc = fs_push_setting(p, "mail_class");
	struct pcm_opts *o;

	if (strcmp(mc, "FirstClass") != 0 && strcmp(mc, "Standard") != 0) {
		fs_err("target '%s': mail_class must be FirstClass or Standard, not '%s'", p->target, mc);
		return -1;
	}
	o = fs_xmalloc(sizeof *o);
	o->mail_class = mc;
	o->size = fs_push_setting(p, "size");
	p->settings = o;
	auth_free();
	if (p->dry_run)
		return 0;
	/* The key stands for the credentials until the first request logs in. */
	p->secret = fs_endpoint_secret(&p->ep, "token_env", "token_file");
	return 0;
}

static void
pcm_push_free(struct fs_push *p)
{
	(void)p;
	auth_free();
}

/* The login client (p->easy), and a token onto it and onto the sender; -1 said, the run stopped. */
static int
push_login(struct fs_push *p)
{
	int status = FS_EXIT_OK;

	if (auth.key == NULL && auth_load(&p->ep, "target") != 0) {
		status = FS_EXIT_USAGE;
	} else if (!p->easy_ready && fs_http_init(&p->easy, p->target, p->url, fs_push_setting(p, "rate")) != 0) {
		status = FS_EXIT_USAGE;
	} else {
		p->easy_ready = true;
		if (login(&p->easy, &status) == 0) {
			if (p->http)
				fs_push_http_auth_bearer(p->http, auth.token);
			return 0;
		}
	}
	fs_push_fail(p, status);
	p->stop = true;
	return -1;
}

/* "Ann Lee" -> first "Ann", last "Lee"; one word is the last name. */
static void
split_name(const char *name, jv *rec)
{
	const char *sp = name ? strrchr(name, ' ') : NULL;

	if (name == NULL || *name == '\0')
		return;
	if (sp == NULL) {
		*rec = jv_object_set(*rec, jv_string("lastName"), jv_string(name));
		return;
	}
	*rec = jv_object_set(*rec, jv_string("firstName"), jv_string_sized(name, (int)(sp - name)));
	*rec = jv_object_set(*rec, jv_string("lastName"), jv_string(sp + 1));
}

/* The body of POST /order/postcard or /order/letter; -1 with the reasons in why. */
static int
create_body(jv ev, const struct pcm_opts *o, bool *letter, char **body, struct fs_buf *why)
{
	static const struct {
		const char *from, *to;
	} keys[] = {
		{"company", "company"}, {"line1", "address"}, {"line2", "address2"}, {"city", "city"},
		{"region", "state"}, {"postal_code", "zipCode"}, {NULL, NULL},
	};
	jv data = fs_jget(ev, "data"), to = fs_jget(data, "to"), req = jv_object(), rec = jv_object();
	const char *format = fs_jstr(data, "format"), *template = fs_jstr(data, "template");
	const char *back = fs_jstr(data, "back"), *campaign = fs_jstr(data, "campaign");
	const char *country = fs_jstr(to, "country");

	*body = NULL;
	*letter = format && strcmp(format, "letter") == 0;
	if (format && !*letter && strcmp(format, "postcard") != 0)
		fs_buf_addf(why, "%sformat must be postcard or letter, not \"%s\"", why->len ? "; " : "", format);
	if (jv_get_kind(to) != JV_KIND_OBJECT)
		fs_buf_addf(why, "%smissing \"to\"", why->len ? "; " : "");
	else if (country && *country && strcmp(country, "US") != 0)
		fs_buf_addf(why, "%sto.country is %s: PostcardMania mails within the US", why->len ? "; " : "", country);
	if (template == NULL)
		fs_buf_addf(why, "%scampaign \"%s\" has no template", why->len ? "; " : "", campaign ? campaign : "");
	split_name(fs_jstr(to, "name"), &rec);
	for (int i = 0; keys[i].from; i++) {
		const char *v = fs_jstr(to, keys[i].from);

		if (v && *v)
			rec = jv_object_set(rec, jv_string(keys[i].to), jv_string(v));
	}
	if (fs_jstr(data, "contact_id"))
		rec = jv_object_set(rec, jv_string("extRefNbr"), jv_string(fs_jstr(data, "contact_id")));
	req = jv_object_set(req, jv_string("extRefNbr"), jv_string(fs_jstr(ev, "id")));
	req = jv_object_set(req, jv_string("mailClass"), jv_string(o->mail_class));
	if (template && strspn(template, "0123456789") == strlen(template)) {
		req = jv_object_set(req, jv_string("designID"), jv_number(atof(template)));
	} else if (*letter) {
		if (template)
			req = jv_object_set(req, jv_string("letter"), jv_string(template));
	} else if (template) {
		req = jv_object_set(req, jv_string("front"), jv_string(template));
		req = jv_object_set(req, jv_string("back"), jv_string(back ? back : template));
	}
	if (!*letter && o->size)
		req = jv_object_set(req, jv_string("size"), jv_string(o->size));
	req = jv_object_set(req, jv_string("recipients"), jv_array_append(jv_array(), rec));
	jv_free(to);
	jv_free(data);
	if (why->len == 0)
		*body = fs_jdump(req);
	jv_free(req);
	return why->len ? -1 : 0;
}

static void
request(struct fs_push *p, struct pcm_req *q, enum stage stage)
{
	struct fs_push_job *j = &q->r.j;

	fs_push_job_clear(j);
	q->stage = stage;
	q->gen = auth.gen;
	if (stage == LOOK) {
		char *ref = fs_urlencode(q->r.rows[0].event_id);

		j->url = fs_xasprintf("%s/order?extRefNbr=%s", p->url, ref);
		j->method = "GET";
		j->bucket = "GET /order";
		free(ref);
	} else {
		j->url = fs_xasprintf("%s/order/%s", p->url, q->letter ? "letter" : "postcard");
		j->body = fs_xstrdup(q->body);
		j->method = "POST";
		j->bucket = q->letter ? "POST /order/letter" : "POST /order/postcard";
	}
}

static struct fs_push_job *
pcm_create(struct fs_push *p)
{
	struct fs_outbox_row *row;

	while ((row = fs_push_next_row(p)) != NULL) {
		struct pcm_req *q = (struct pcm_req *)fs_push_req_new(1, sizeof *q);
		struct fs_buf why = {0};
		jv ev;

		q->r.clear = req_clear;
		fs_push_req_take(&q->r, row);
		if (auth.token == NULL && push_login(p) != 0) {
			/* The row goes back unsent: claims are released at the end. */
			fs_push_req_free(&q->r);
			return NULL;
		}
		ev = jv_parse(q->r.rows[0].line);
		if (jv_get_kind(ev) != JV_KIND_OBJECT || create_body(ev, p->settings, &q->letter, &q->body, &why) != 0) {
			fs_push_dead_local(p, &q->r, why.len ? why.data : "not a mail.requested event");
			fs_buf_free(&why);
			jv_free(ev);
			fs_push_req_free(&q->r);
			continue;
		}
		fs_buf_free(&why);
		jv_free(ev);
		/* A row seen before (a replay, an earlier attempt) is made again under the same
		 * reference: PostcardMania answers 409 if it has it, and it is looked up. */
		request(p, q, CREATE);
		return &q->r.j;
	}
	return NULL;
}

static int
order_at_pcm(struct fs_push *p, struct pcm_req *q, const char *vid, bool adopted)
{
	struct fs_push_piece pc = {
		.vendor_id = vid, .detail = q->letter ? "letter.created" : "postcard.created",
		.found_by = adopted ? "GET /order?extRefNbr" : NULL,
	};

	return fs_push_piece_sent(p, &q->r, &pc);
}

static int
failed(struct fs_push *p, struct pcm_req *q, const char *error, bool retry)
{
	char *reason;
	int rc;

	if (retry) {
		snprintf(p->last_error, sizeof p->last_error, "%s", error);
		if ((reason = fs_push_gave_up(p, &q->r, 0, error)) == NULL)
			return fs_push_row_retry(p, &q->r, 0, error);
	} else {
		reason = fs_xstrdup(error);
	}
	rc = fs_push_row_dead(p, &q->r, 0, reason);
	free(reason);
	return rc;
}

/* The look's answer: the order with this reference, adopted. */
static int
looked(struct fs_push *p, struct pcm_req *q)
{
	jv ans = jv_parse(q->r.j.resp.data ? q->r.j.resp.data : ""), res = fs_jget(ans, "results"), o = jv_invalid();
	char *vid = NULL, *why;
	int rc;

	if (jv_get_kind(res) == JV_KIND_ARRAY && jv_array_length(jv_copy(res)) > 0)
		o = jv_array_get(jv_copy(res), 0);
	if (jv_is_valid(o))
		vid = vendor_id_of(o);
	if (vid == NULL) {
		fs_push_attempt(&q->r, 0, "unreadable answer");
		rc = failed(p, q, jv_get_kind(res) == JV_KIND_ARRAY
				      ? "HTTP 409 on a repeated extRefNbr, but no order has it"
				      : "unreadable answer to GET /order?extRefNbr", true);
	} else if (fs_jstr(o, "status") && strcmp(fs_jstr(o, "status"), "Canceled") == 0) {
		fs_push_attempt(&q->r, 0, NULL);
		why = fs_xasprintf("order %s has this extRefNbr and was cancelled at PostcardMania: not made again", vid);
		rc = fs_push_row_dead(p, &q->r, 0, why);
		free(why);
	} else {
		p->accepted++;
		fs_push_attempt(&q->r, 0, NULL);
		rc = order_at_pcm(p, q, vid, true);
	}
	free(vid);
	jv_free(o);
	jv_free(res);
	jv_free(ans);
	return rc;
}

static int
pcm_answer(struct fs_push *p, struct fs_push_job *j)
{
	struct pcm_req *q = (struct pcm_req *)j->user;
	long s = j->http_status;
	int rc;

	if (s == 401) {
		/* The token expired: one login for every request sent with it, then this one again. */
		if (!q->relogged && (q->gen < auth.gen || push_login(p) == 0)) {
			q->relogged = true;
			q->gen = auth.gen;
			return 1;
		}
		if (!p->stop)
			fs_err("%s: HTTP 401 after a new login: check the API key and secret", p->target);
		fs_push_fail(p, FS_EXIT_USAGE);
		p->stop = true;
		fs_push_req_free(&q->r);
		return 0;
	}
	if (!q->tried) {
		q->r.tries[0]++;
		q->tried = true;
	}
	if (q->stage == LOOK && s >= 200 && s < 300) {
		rc = looked(p, q);
	} else if (q->stage == CREATE && s == 409) {
		fs_push_attempt(&q->r, 0, NULL);
		request(p, q, LOOK);
		return 1;
	} else if (s >= 200 && s < 300) {
		jv o = jv_parse(j->resp.data ? j->resp.data : "");
		char *vid = vendor_id_of(o);

		jv_free(o);
		p->accepted += vid != NULL;
		fs_push_attempt(&q->r, 0, vid ? NULL : "unreadable answer");
		rc = vid ? order_at_pcm(p, q, vid, false) : failed(p, q, "unreadable answer", true);
		free(vid);
	} else {
		char *err = fs_push_answer_error(j);

		fs_push_attempt(&q->r, 0, err);
		rc = failed(p, q, err, fs_push_transient(s));
		free(err);
	}
	fs_push_req_free(&q->r);
	if (rc < 0)
		p->stop = true;
	return 0;
}

/* fs-push cancel: DELETE /order/N, refused once the order day's cutoff has passed. */
static int
pcm_cancel(struct fs_push *p, const char *vendor_id)
{
	const char *num = order_number(vendor_id);
	struct fs_http_response resp;
	char *path;
	int rc = 0, status = FS_EXIT_OK;

	if (num == NULL) {
		fs_err("cancel: %s is not a PostcardMania order", vendor_id);
		return 1;
	}
	if (auth.token == NULL && (auth_load(&p->ep, "target") != 0 || login(&p->easy, &status) != 0))
		return -1;
	path = fs_xasprintf("/order/%s", num);
	for (int tries = 0; tries < 2; tries++) {
		jv ans;
		const char *msg;

		if (fs_http_request(&p->easy, "DELETE", path, NULL, NULL, &resp) != 0) {
			fs_err("cancel: %s: %s unreachable", vendor_id, p->target);
			rc = -1;
		} else if (resp.status == 401 && tries == 0 && login(&p->easy, &status) == 0) {
			fs_http_response_free(&resp);
			continue;
		} else if (resp.status < 200 || resp.status >= 300) {
			ans = jv_parse_sized(resp.body.len ? resp.body.data : "null", resp.body.len ? (int)resp.body.len : 4);
			msg = fs_jstr(ans, "message");
			fs_err("cancel: could not cancel %s: HTTP %ld%s%s%s", vendor_id, resp.status, msg ? ": " : "",
			       msg ? msg : "",
			       resp.status == 400 || resp.status == 409 || resp.status == 422
				       ? " (past the order day's cutoff: it is being printed or mailed)" : "");
			jv_free(ans);
			rc = resp.status == 401 ? -1 : 1;
		}
		fs_http_response_free(&resp);
		break;
	}
	free(path);
	return rc;
}

const struct fs_vendor fs_vendor_postcardmania_events = {
	.kind = "postcardmania-events",
	.flags = FS_VENDOR_POLLED,
	.saved_stream = "events",
	.start = pcm_events_start,
	.poll = pcm_events_poll,
	.after = pcm_events_after,
};

static const char *const pcm_takes[] = {"mail.requested", NULL};

const struct fs_vendor fs_vendor_postcardmania = {
	.kind = "postcardmania",
	.flags = FS_VENDOR_OWN_401,
	.pulled_as = "postcardmania-events",
	.takes = pcm_takes,
	.push_start = pcm_push_start,
	.create = pcm_create,
	.answer = pcm_answer,
	.cancel = pcm_cancel,
	.push_free = pcm_push_free,
};
