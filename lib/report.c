/*
 * fs-report's reports.  Each one reads a window of rows through an index
 * or a summary table and comes back as one JSON document:
 *
 *   {"report":"sla","title":…,"from":…,"to":…,"generated_at":…,
 *    "empty":null or "why there is nothing to report",
 *    "sections":[{"name":…,"title":…,"note":…,"empty":…,
 *                 "columns":[[name,type],…],"rows":[[…],…]}]}
 *
 * Column types: text, int, num (one decimal), money (two decimals), pct
 * (0–100), auto (int or num), time (RFC 3339), day (YYYY-MM-DD), json (JSON
 * text: an object in NDJSON), key (a stable snake_case name that CSV and
 * JSON keep, and text and HTML show as fs_report_label says).  The renderers in report_render.c and report_html.c print
 * that document; nothing here knows about formats.
 */
#include <math.h>
#include <stdarg.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"
#include "vendors.h"

static const char *const reports[] = {"sla", "health", "dedupe", "changelog", "pilot", "outcomes", NULL};

/* Each report's sections, in order; the first is the one CSV prints by default. */
static const char *const section_names[][2] = {
	{"sla", "followup, speed, misses, mail_status, vendor_sla"},
	{"health", "status, incidents, summary, fallbacks, timeline"},
	{"dedupe", "weekly, scans"},
	{"changelog", "entries, kinds"},
	{"pilot", "pilot"},
	{"outcomes", "responses, revenue, deals, matches, unmatched, spend"},
};

/* What text and HTML show for a key column's stable name: words, with the unit. */
static const char *const labels[][2] = {
	{"pieces_mailed", "Pieces mailed"},
	{"pieces_delivered", "Pieces delivered"},
	{"follow_up_median", "Follow-up, median (business days)"},
	{"follow_up_p90", "Follow-up, 90th percentile (business days)"},
	{"follow_up_median_days", "Follow-up, median (days)"},
	{"follow_up_sla_missed", "Follow-up SLA missed"},
	{"follow_up_sla_missed_pct", "Follow-up SLA missed (%)"},
	{"double_mailings", "Double mailings"},
	{"duplicate_triggers_suppressed", "Duplicate triggers suppressed"},
	{"pieces_suppressed", "Pieces suppressed"},
	{"pieces_capped", "Pieces capped"},
	{"pieces_held", "Pieces held"},
	{"pieces_cancelled", "Pieces cancelled"},
	{"cost_sent", "Cost of pieces sent"},
	{"cost_spared", "Cost spared"},
	{"webhook_outages_detected", "Webhook outages detected"},
	{"audit_trail_complete_pct", "Audit trail complete (%)"},
	{"recovery_avg_min", "Recovery, average (minutes)"},
};

const char *
fs_report_label(const char *key)
{
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (strcmp(labels[i][0], key) == 0)
			return labels[i][1];
	return key;
}

const char *
fs_report_sections(const char *name)
{
	for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++)
		if (strcmp(section_names[i][0], name) == 0)
			return section_names[i][1];
	return NULL;
}

bool
fs_report_has_section(const char *name, const char *section)
{
	const char *list = fs_report_sections(name);
	size_t n = strlen(section);

	for (const char *p = list; p && (p = strstr(p, section)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

bool
fs_report_known(const char *name)
{
	for (int i = 0; reports[i]; i++)
		if (strcmp(reports[i], name) == 0)
			return true;
	return false;
}

/* Parses "3bd"-style settings; -1 with a message naming the setting. */
static int
bd_setting(const struct fs_config *cfg, const char *key, int *out)
{
	const char *v = fs_config_setting(cfg, "thresholds", "", key);

	if (fs_bizdays_parse(v, out) != 0) {
		fs_err("config: [thresholds] %s: '%s' is not a number of business days (3bd)", key, v);
		return -1;
	}
	return 0;
}

/* sla = mailed 2bd, delivered 7bd: each stage it names, into *mailed and *delivered. */
static int
sla_parse(const char *target, const char *sla, int *mailed, int *delivered)
{
	char *copy = fs_xstrdup(sla), *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char stage[32], bd[32];
		int n;

		if (sscanf(tok, " %31s %31s", stage, bd) != 2 || fs_bizdays_parse(bd, &n) != 0 ||
		    (strcmp(stage, "mailed") != 0 && strcmp(stage, "delivered") != 0)) {
			fs_err("config: [target \"%s\"] sla: '%s' is not 'mailed 2bd, delivered 7bd'", target,
			       fs_trim(tok));
			free(copy);
			return -1;
		}
		*(strcmp(stage, "mailed") == 0 ? mailed : delivered) = n;
	}
	free(copy);
	return 0;
}

static int
sla_setting(const char *target, const char *sla, struct fs_report_opts *o)
{
	return sla_parse(target, sla, &o->mailed_bd, &o->delivered_bd);
}

/* Whether kind names a mail vendor's target (one that creates pieces). */
static bool
mail_kind(const char *kind)
{
	const struct fs_vendor *v = kind ? fs_vendor_find(kind) : NULL;

	return v != NULL && fs_vendor_creates(v);
}

int
fs_report_opts_config(const struct fs_config *cfg, struct fs_report_opts *o)
{
	struct fs_endpoint lob = {"target", "lob", "lob", NULL};
	const char *v;

	if (bd_setting(cfg, "follow_up_sla", &o->follow_up_bd) != 0)
		return -1;
	v = fs_config_setting(cfg, "thresholds", "", "holidays");
	if (fs_holidays_parse(v, &o->holidays) != 0) {
		fs_err("config: [thresholds] holidays: '%s' is not a list of dates (2026-12-25, 2027-01-01)", v);
		return -1;
	}
	v = fs_config_setting(cfg, "thresholds", "", "attribution");
	if (fs_duration_parse(v, &o->attribution) != 0) {
		fs_err("config: [thresholds] attribution: '%s' is not a duration (90d)", v);
		return -1;
	}
	o->webhook_failures = atoi(fs_config_setting(cfg, "thresholds", "", "webhook_failures"));
	o->dlq_max = atoi(fs_config_setting(cfg, "thresholds", "", "dlq_max"));
	/* Each mail target's own sla (or its kind's default), for the vendor SLA's rows per target. */
	o->nsla = 0;
	for (int i = 0; i < cfg->nsec; i++) {
		const struct fs_section *s = &cfg->sec[i];
		const char *kind = strcmp(s->type, "target") == 0 ? fs_config_setting(cfg, "target", s->name, "kind") : NULL;
		struct fs_report_sla *t = &o->sla[o->nsla];

		if (!mail_kind(kind))
			continue;
		if (o->nsla == (int)(sizeof o->sla / sizeof o->sla[0])) {
			fs_err("config: more than %d mail targets", o->nsla);
			return -1;
		}
		t->target = s->name;
		t->kind = kind;
		if (sla_parse(s->name, fs_config_setting(cfg, "target", s->name, "sla"), &t->mailed_bd,
			      &t->delivered_bd) != 0)
			return -1;
		o->nsla++;
	}
	/* The one SLA of a single target: a lob target's default, then the sla of the first target of kind lob that sets one. */
	if (sla_setting("lob", fs_setting_default(&lob, "sla"), o) != 0)
		return -1;
	for (int i = 0; i < cfg->nsec; i++) {
		const struct fs_section *s = &cfg->sec[i];

		if (strcmp(s->type, "target") == 0 && fs_section_get(s, "sla") != NULL &&
		    strcmp(fs_config_setting(cfg, "target", s->name, "kind"), "lob") == 0)
			return sla_setting(s->name, fs_section_get(s, "sla"), o);
	}
	return 0;
}

/* Query helpers. */

struct q {
	struct fs_state *st;
	int err;
	struct fs_zone zone;	/* the business's: its days, and the times the document carries */
};

/* Binds args as fs_state_query does ('s' text, 'i' int64_t). */
static fs_stmt *
qprep(struct q *q, const char *sql, const char *fmt, va_list ap)
{
	fs_stmt *s = fs_state_vquery(q->st, sql, fmt, ap);

	if (s == NULL)
		q->err = 1;
	return s;
}

static jv
col_value(fs_stmt *s, int i)
{
	switch (fs_col_type(s, i)) {
	case FS_COL_INT:
		return jv_number((double)fs_col_int64(s, i));
	case FS_COL_FLOAT:
		return jv_number(fs_col_double(s, i));
	case FS_COL_NULL:
		return jv_null();
	default:
		return jv_string(fs_col_text(s, i));
	}
}

static jv
rows_of(struct q *q, fs_stmt *s)
{
	jv rows = jv_array();
	int rc;

	while ((rc = fs_stmt_step(s)) == FS_ROW) {
		jv row = jv_array();

		for (int i = 0; i < fs_col_count(s); i++)
			row = jv_array_append(row, col_value(s, i));
		rows = jv_array_append(rows, row);
	}
	if (rc != FS_DONE) {
		fs_state_error(q->st, "report");
		q->err = 1;
	}
	fs_stmt_reset(s);
	return rows;
}

/* Every row as an array of values. */
static jv
qrows(struct q *q, const char *sql, const char *fmt, ...)
{
	va_list ap;
	fs_stmt *s;

	va_start(ap, fmt);
	s = qprep(q, sql, fmt, ap);
	va_end(ap);
	return s ? rows_of(q, s) : jv_array();
}

/* The same for SQL made on the fly, which the statement cache must not keep. */
static jv
qrows_once(struct q *q, const char *sql, const char *args[], int nargs)
{
	fs_stmt *s;
	jv rows;

	if ((s = fs_state_prepare_new(q->st, sql, false)) == NULL) {
		q->err = 1;
		return jv_array();
	}
	for (int i = 0; i < nargs; i++)
		if (args[i])
			fs_bind_text(s, i + 1, args[i]);
	rows = rows_of(q, s);
	fs_stmt_free(s);
	return rows;
}

/* The first column of the first row as an integer (0 when none). */
static int64_t
qint(struct q *q, const char *sql, const char *fmt, ...)
{
	va_list ap;
	fs_stmt *s;
	int64_t v = 0;
	int rc;

	va_start(ap, fmt);
	s = qprep(q, sql, fmt, ap);
	va_end(ap);
	if (s == NULL)
		return 0;
	rc = fs_stmt_step(s);
	if (rc == FS_ROW)
		v = fs_col_int64(s, 0);
	else if (rc != FS_DONE) {
		fs_state_error(q->st, "report");
		q->err = 1;
	}
	fs_stmt_reset(s);
	return v;
}

/* Document helpers. */

/* An array of its arguments, however many (jq's JV_ARRAY stops at 9). */
#define ARR(...) arr(sizeof((jv[]){__VA_ARGS__}) / sizeof(jv), __VA_ARGS__)

static jv
arr(size_t n, ...)
{
	va_list ap;
	jv a = jv_array();

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		a = jv_array_append(a, va_arg(ap, jv));
	va_end(ap);
	return a;
}

static jv
section(const char *name, const char *title, const char *cols)
{
	jv c = jv_array();
	char *copy = fs_xstrdup(cols), *save = NULL;

	/* cols: "campaign:text,pieces:int,…" */
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':'), *flag;
		jv col;

		*colon = '\0';
		if ((flag = strchr(colon + 1, ':')))
			*flag++ = '\0';
		col = ARR(jv_string(tok), jv_string(colon + 1));
		/* "wide": a detail the 100-column text table leaves out;
		 * "label": what text and HTML show in the column before
		 * (an owner's name for its id), where it has a value. */
		if (flag)
			col = jv_array_append(col, jv_string(flag));
		c = jv_array_append(c, col);
	}
	free(copy);
	return JV_OBJECT(jv_string("name"), jv_string(name), jv_string("title"), jv_string(title),
			 jv_string("note"), jv_null(), jv_string("empty"), jv_null(),
			 jv_string("columns"), c, jv_string("rows"), jv_array());
}

static jv
sec_set(jv sec, const char *key, jv v)
{
	return jv_object_set(sec, jv_string(key), v);
}

/* Sets rows, and the reason shown when there are none. */
static jv
sec_rows(jv sec, jv rows, const char *why_empty)
{
	if (jv_array_length(jv_copy(rows)) == 0 && why_empty)
		sec = sec_set(sec, "empty", jv_string(why_empty));
	return sec_set(sec, "rows", rows);
}

static jv
add_section(jv rep, jv sec)
{
	jv secs = jv_object_get(jv_copy(rep), jv_string("sections"));

	return jv_object_set(rep, jv_string("sections"), jv_array_append(secs, sec));
}

static jv
tstr(fs_time t)
{
	char buf[21];

	fs_time_format(t, buf);
	return jv_string(buf);
}

/* The local clock at an RFC 3339 time; dflt when s is none. */
static fs_time
wall_or(struct q *q, const char *s, fs_time dflt)
{
	fs_time t;

	return s && fs_time_parse(s, &t) == 0 ? fs_zone_wall(&q->zone, t) : dflt;
}

/* YYYY-MM-DD of a local clock (fs_zone_wall). */
static void
wall_date(fs_time wall, char out[11])
{
	char buf[21];

	fs_time_format(wall, buf);
	memcpy(out, buf, 10);
	out[10] = '\0';
}

/* A time in the document, as the business's clock shows it; anything else as it was.  Consumes v. */
static jv
local_time(struct q *q, jv v)
{
	fs_time t;
	char buf[26];

	if (q->zone.utc || jv_get_kind(v) != JV_KIND_STRING || fs_time_parse(jv_string_value(v), &t) != 0)
		return v;
	jv_free(v);
	fs_zone_format(&q->zone, t, buf);
	return jv_string(buf);
}

static jv
num_or_null(bool have, double v)
{
	return have ? jv_number(v) : jv_null();
}

/* One decimal, so that every format prints the same figure. */
static double
round1(double v)
{
	return round(v * 10) / 10;
}

/* Money: cents. */
static double
round2(double v)
{
	return round(v * 100) / 100;
}

static fs_time
parse_or(const char *s, fs_time dflt)
{
	fs_time t;

	return s && fs_time_parse(s, &t) == 0 ? t : dflt;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p% of the values at or below it. */
static double
pctile(double *v, int n, double p)
{
	int rank = (int)ceil(p / 100.0 * n);

	if (n < 1)	/* no samples: v may be NULL, which qsort may not be given */
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[rank < 1 ? 0 : rank - 1];
}

/* A set of samples with their SLA outcome, for one group. */
struct sample_set {
	char *by, *name;
	char *label;		/* an owner's name (the id when none is known); NULL for the other groups */
	double *days, *bd;
	int n, cap;
	int pieces, met, missed, open;
};

struct groups {
	struct sample_set *g;
	int n;
};

static struct sample_set *
group(struct groups *gs, const char *by, const char *name)
{
	for (int i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i].by, by) == 0 && strcmp(gs->g[i].name, name) == 0)
			return &gs->g[i];
	gs->g = fs_xrealloc(gs->g, (size_t)(gs->n + 1) * sizeof *gs->g);
	memset(&gs->g[gs->n], 0, sizeof gs->g[0]);
	gs->g[gs->n].by = fs_xstrdup(by);
	gs->g[gs->n].name = fs_xstrdup(name);
	return &gs->g[gs->n++];
}

static void
sample_add(struct sample_set *s, double days, double bd)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->days = fs_xrealloc(s->days, (size_t)s->cap * sizeof *s->days);
		s->bd = fs_xrealloc(s->bd, (size_t)s->cap * sizeof *s->bd);
	}
	s->days[s->n] = days;
	s->bd[s->n++] = bd;
}

static void
groups_free(struct groups *gs)
{
	for (int i = 0; i < gs->n; i++) {
		free(gs->g[i].by);
		free(gs->g[i].name);
		free(gs->g[i].label);
		free(gs->g[i].days);
		free(gs->g[i].bd);
	}
	free(gs->g);
}

static int
cmp_group(const void *a, const void *b)
{
	const struct sample_set *x = a, *y = b;
	static const char *const order[] = {"all", "campaign", "owner"};
	int ix = 0, iy = 0;

	for (int i = 0; i < 3; i++) {
		if (strcmp(x->by, order[i]) == 0)
			ix = i;
		if (strcmp(y->by, order[i]) == 0)
			iy = i;
	}
	return ix != iy ? ix - iy : strcmp(x->name, y->name);
}

/* The follow-up SLA of the pieces delivered in [from, to). */
struct followup {
	struct groups gs;
	int hist[8];		/* 0..5 bd, 6+ bd, none yet */
	jv days;		/* {"2026-11-20":[delivered, met, missed]} */
};

static void
followup_collect(struct q *q, const struct fs_report_opts *o, const char *from, const char *to,
		 struct followup *f)
{
	/* An owner's name as fs-pull last fetched it (lib/owners.c), else its id. */
	fs_stmt *s = fs_state_query(q->st,
	    "SELECT x.campaign, x.owner, coalesce((SELECT o.name FROM owners o WHERE o.id = x.owner), x.owner),"
	    "  x.delivered_at, x.followed FROM (SELECT coalesce(p.campaign, '(none)') AS campaign,"
	    "  coalesce(p.owner, (SELECT c.owner FROM contacts c WHERE c.id = p.contact_id), '(none)') AS owner,"
	    "  p.delivered_at AS delivered_at,"
	    "  (SELECT min(a.at) FROM activities a WHERE a.contact_id = p.contact_id AND a.at >= p.delivered_at) AS followed"
	    " FROM pieces p WHERE p.delivered_at >= ?1 AND p.delivered_at < ?2) x", "ss", from, to);
	/* Business days and the delivery day on the business's calendar:
	 * its clock read as UTC (an hour a year, when clocks go back, reads twice). */
	fs_time now = fs_zone_wall(&q->zone, fs_now());
	int rc;

	memset(f, 0, sizeof *f);
	f->days = jv_object();
	if (s == NULL) {
		q->err = 1;
		return;
	}
	while ((rc = fs_stmt_step(s)) == FS_ROW) {
		const char *campaign = fs_col_text(s, 0);
		const char *owner = fs_col_text(s, 1);
		const char *owner_name = fs_col_text(s, 2);
		const char *dstr = fs_col_text(s, 3);
		const char *fstr = fs_col_text(s, 4);
		fs_time d = parse_or(dstr, 0), fu = parse_or(fstr, -1);
		fs_time dw = wall_or(q, dstr, 0), fuw = wall_or(q, fstr, 0);
		fs_time deadline = fs_bizdays_add(dw, o->follow_up_bd, &o->holidays);
		struct sample_set *g[3];
		int met = fu >= 0 && fuw <= deadline, missed = fu >= 0 ? !met : now > deadline;
		char day[11];
		jv cell;
		int ix[3];

		/* Indexes first: group() may move the array. */
		ix[0] = (int)(group(&f->gs, "all", "all") - f->gs.g);
		ix[1] = (int)(group(&f->gs, "campaign", campaign) - f->gs.g);
		ix[2] = (int)(group(&f->gs, "owner", owner) - f->gs.g);
		for (int i = 0; i < 3; i++)
			g[i] = &f->gs.g[ix[i]];
		if (g[2]->label == NULL)
			g[2]->label = fs_xstrdup(owner_name);
		for (int i = 0; i < 3; i++) {
			g[i]->pieces++;
			g[i]->met += met;
			g[i]->missed += missed;
			g[i]->open += !met && !missed;
			if (fu >= 0)
				sample_add(g[i], (double)(fu - d) / 86400.0,
					   fs_bizdays_between(dw, fuw, &o->holidays));
		}
		if (fu >= 0) {
			int bd = fs_bizdays_between(dw, fuw, &o->holidays);

			f->hist[bd > 6 ? 6 : bd]++;
		} else {
			f->hist[7]++;
		}
		wall_date(dw, day);
		cell = jv_object_get(jv_copy(f->days), jv_string(day));
		if (!jv_is_valid(cell) || jv_get_kind(cell) != JV_KIND_ARRAY) {
			jv_free(cell);
			cell = ARR(jv_number(0), jv_number(0), jv_number(0));
		}
		cell = jv_array_set(cell, 0, jv_number(jv_number_value(jv_array_get(jv_copy(cell), 0)) + 1));
		cell = jv_array_set(cell, 1, jv_number(jv_number_value(jv_array_get(jv_copy(cell), 1)) + met));
		cell = jv_array_set(cell, 2, jv_number(jv_number_value(jv_array_get(jv_copy(cell), 2)) + missed));
		f->days = jv_object_set(f->days, jv_string(day), cell);
	}
	if (rc != FS_DONE) {
		fs_state_error(q->st, "report");
		q->err = 1;
	}
	fs_stmt_reset(s);
	if (f->gs.n > 1)	/* no groups: no array either, and qsort wants one */
		qsort(f->gs.g, (size_t)f->gs.n, sizeof *f->gs.g, cmp_group);
}

/* Median and p90 of a group's follow-ups; rounded to one decimal. */
static void
group_stats(struct sample_set *g, jv *med_d, jv *p90_d, jv *med_bd, jv *p90_bd)
{
	*med_d = num_or_null(g->n > 0, g->n ? round1(pctile(g->days, g->n, 50)) : 0);
	*p90_d = num_or_null(g->n > 0, g->n ? round1(pctile(g->days, g->n, 90)) : 0);
	*med_bd = num_or_null(g->n > 0, g->n ? pctile(g->bd, g->n, 50) : 0);
	*p90_bd = num_or_null(g->n > 0, g->n ? pctile(g->bd, g->n, 90) : 0);
}

static jv
pct(int part, int whole)
{
	return whole > 0 ? jv_number(round1(100.0 * part / whole)) : jv_null();
}

/* "between 2026-11-16 and 2026-11-30": the window's local dates. */
static void
window_text(struct q *q, const char *from, const char *to, char *buf, size_t n)
{
	char a[11], b[11];

	wall_date(wall_or(q, from, 0), a);
	wall_date(wall_or(q, to, 0), b);
	snprintf(buf, n, "between %s and %s", a, b);
}

/* The report skeleton. */
static jv
report(const char *name, const char *title, const char *from, const char *to)
{
	return JV_OBJECT(jv_string("report"), jv_string(name), jv_string("title"), jv_string(title),
			 jv_string("from"), jv_string(from), jv_string("to"), jv_string(to),
			 jv_string("generated_at"), tstr(fs_now()), jv_string("empty"), jv_null(),
			 jv_string("sections"), jv_array());
}

static jv
empty(jv rep, const char *why)
{
	return jv_object_set(rep, jv_string("empty"), jv_string(why));
}

#define PIECE_START "coalesce(requested_at, queued_at, mailed_at, delivered_at, returned_at, failed_at, updated_at)"

/* One mail target's vendor SLA: its targets and samples, mailed [0] and delivered [1]. */
struct vsla {
	const char *target, *kind;	/* kind NULL for a target the config does not name */
	char *own;			/* target, when it is not the config's string */
	int bd[2];
	struct sample_set st[2];
};

static struct vsla *
vsla_of(struct vsla **v, int *n, const struct fs_report_opts *o, const char *target)
{
	struct vsla *t;

	for (int i = 0; i < *n; i++)
		if (strcmp((*v)[i].target, target) == 0)
			return &(*v)[i];
	*v = fs_xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
	t = memset(&(*v)[(*n)++], 0, sizeof **v);
	t->target = t->own = fs_xstrdup(target);
	t->bd[0] = o->mailed_bd;
	t->bd[1] = o->delivered_bd;
	if (mail_kind(target)) {	/* a bare built-in kind: its default sla */
		struct fs_endpoint ep = {"target", target, target, NULL};

		t->kind = t->own;
		if (sla_parse(target, fs_setting_default(&ep, "sla"), &t->bd[0], &t->bd[1]) != 0)
			t->bd[0] = o->mailed_bd, t->bd[1] = o->delivered_bd;
	}
	return t;
}

/*
 * Vendor SLA: business days from queued to mailed and to delivered.  With
 * at most one mail target in the config, all pieces against its sla (or a
 * lob target's): one row per stage.  With more, each target against its own
 * sla, one row per target and stage, so that vendors compare side by side;
 * pieces of a target the config no longer names get rows of their own.
 */
static jv
vendor_sla(struct q *q, const struct fs_report_opts *o, const char *from, const char *to, const char *win)
{
	fs_stmt *s = fs_state_query(q->st,
	    "SELECT target, queued_at, mailed_at, delivered_at, coalesce(returned_at, failed_at) FROM pieces"
	    " WHERE " PIECE_START " >= ?1 AND "
	    PIECE_START " < ?2 AND queued_at IS NOT NULL ORDER BY target", "ss", from, to);
	struct vsla *v = NULL;
	int nv = 0;
	fs_time now = fs_zone_wall(&q->zone, fs_now());	/* business days: as followup_collect */
	char note[240], why[160];
	jv sec, rows;
	bool multi = o->nsla > 1;

	if (!multi) {		/* one set of samples, whatever the pieces' targets */
		v = fs_xmalloc(sizeof *v);
		memset(v, 0, sizeof *v);
		v->target = o->nsla ? o->sla[0].target : "lob";
		v->kind = o->nsla ? o->sla[0].kind : "lob";
		v->bd[0] = o->nsla ? o->sla[0].mailed_bd : o->mailed_bd;
		v->bd[1] = o->nsla ? o->sla[0].delivered_bd : o->delivered_bd;
		nv = 1;
	}
	for (int i = 0; multi && i < o->nsla; i++) {
		v = fs_xrealloc(v, (size_t)(nv + 1) * sizeof *v);
		memset(&v[nv], 0, sizeof *v);
		v[nv].target = o->sla[i].target;
		v[nv].kind = o->sla[i].kind;
		v[nv].bd[0] = o->sla[i].mailed_bd;
		v[nv].bd[1] = o->sla[i].delivered_bd;
		nv++;
	}
	if (s == NULL) {
		q->err = 1;
	} else {
		int rc;

		while ((rc = fs_stmt_step(s)) == FS_ROW) {
			struct vsla *t = multi ? vsla_of(&v, &nv, o, fs_col_text(s, 0)) : v;
			fs_time qa = wall_or(q, fs_col_text(s, 1), 0);
			bool ended = !fs_col_null(s, 4);

			for (int k = 0; k < 2; k++) {
				struct sample_set *st = &t->st[k];
				fs_time at = wall_or(q, fs_col_text(s, k + 2), -1);
				fs_time deadline = fs_bizdays_add(qa, t->bd[k], &o->holidays);

				/* A piece returned or failed before a stage never reaches it: not counted. */
				if (at < 0 && ended)
					continue;
				st->pieces++;
				if (at >= 0) {
					sample_add(st, 0, fs_bizdays_between(qa, at, &o->holidays));
					st->met += at <= deadline;
					st->missed += at > deadline;
				} else if (now > deadline) {
					st->missed++;
				} else {
					st->open++;
				}
			}
		}
		fs_stmt_reset(s);
		if (rc != FS_DONE)
			q->err = 1;
	}
	if (multi)
		snprintf(note, sizeof note, "targets from each mail target's 'sla' setting (default mailed 2bd,"
			 " delivered 7bd); returned and failed pieces count only for stages they reached");
	else
		snprintf(note, sizeof note, "targets from the %s target's 'sla' setting (default mailed 2bd,"
			 " delivered 7bd); returned and failed pieces count only for stages they reached",
			 v->kind);
	snprintf(why, sizeof why, "no pieces queued at the vendor %s", win);
	/* With a target column, the stage's SLA is sla_bd, not target_bd (two meanings of target). */
	sec = section("vendor_sla", "Vendor SLA (business days from queued)", multi ?
		      "target:text,vendor:text,stage:text,sla_bd:int,pieces:int,done:int,med_bd:int,p90_bd:int,"
		      "met:int,missed:int,open:int,met_pct:pct" :
		      "stage:text,target_bd:int,pieces:int,done:int,med_bd:int,p90_bd:int,met:int,missed:int,"
		      "open:int,met_pct:pct");
	rows = jv_array();
	for (int i = 0; i < nv; i++) {
		struct sample_set *st = v[i].st;

		for (int k = 0; k < 2 && st[0].pieces > 0; k++) {
			int n = st[k].n;
			jv row = multi ? ARR(jv_string(v[i].target), v[i].kind ? jv_string(v[i].kind) : jv_null()) :
					 jv_array();

			row = jv_array_concat(row, ARR(jv_string(k ? "delivered" : "mailed"), jv_number(v[i].bd[k]),
				jv_number(st[k].pieces), jv_number(n),
				num_or_null(n > 0, n ? pctile(st[k].bd, n, 50) : 0),
				num_or_null(n > 0, n ? pctile(st[k].bd, n, 90) : 0),
				jv_number(st[k].met), jv_number(st[k].missed), jv_number(st[k].open),
				pct(st[k].met, st[k].met + st[k].missed)));
			rows = jv_array_append(rows, row);
		}
		for (int k = 0; k < 2; k++) {
			free(st[k].days);
			free(st[k].bd);
		}
		free(v[i].own);
	}
	free(v);
	return sec_set(sec_rows(sec, rows, why), "note", jv_string(note));
}

/* sla: follow-up after delivery, mail status, vendor SLA. */
static jv
report_sla(struct q *q, const struct fs_report_opts *o, const char *from, const char *to)
{
	jv rep = report("sla", "Follow-up and vendor SLA", from, to), sec, rows;

	rep = jv_object_set(rep, jv_string("follow_up_bd"), jv_number(o->follow_up_bd));
	struct followup f;
	char win[64], note[160], why[160];
	static const char *const buckets[] = {"0 bd", "1 bd", "2 bd", "3 bd", "4 bd", "5 bd", "6+ bd", "none yet"};

	if (qint(q, "SELECT count(*) FROM (SELECT 1 FROM pieces LIMIT 1)", NULL) == 0)
		return empty(rep, "no mail pieces in the state file yet (fs-push records them as it sends)");
	window_text(q, from, to, win, sizeof win);
	followup_collect(q, o, from, to, &f);

	snprintf(note, sizeof note, "follow-up SLA: %d business days after delivery; days are calendar days",
		 o->follow_up_bd);
	snprintf(why, sizeof why, "no pieces delivered %s", win);
	sec = section("followup", "Follow-up after delivery",
		      "by:text,name:text,owner_name:text:label,pieces:int,followed:int,med_d:num,p90_d:num,med_bd:int,p90_bd:int,"
		      "met:int,missed:int,open:int,met_pct:pct");
	rows = jv_array();
	for (int i = 0; i < f.gs.n; i++) {
		struct sample_set *g = &f.gs.g[i];
		jv md, pd, mb, pb;

		group_stats(g, &md, &pd, &mb, &pb);
		rows = jv_array_append(rows, ARR(jv_string(g->by), jv_string(g->name),
						      g->label ? jv_string(g->label) : jv_null(), jv_number(g->pieces),
						      jv_number(g->n), md, pd, mb, pb, jv_number(g->met),
						      jv_number(g->missed), jv_number(g->open),
						      pct(g->met, g->met + g->missed)));
	}
	sec = sec_set(sec_rows(sec, rows, why), "note", jv_string(note));
	rep = add_section(rep, sec);

	sec = section("speed", "Follow-up speed (business days from delivery)", "business_days:text,pieces:int");
	rows = jv_array();
	if (f.gs.n > 0)
		for (int i = 0; i < 8; i++)
			rows = jv_array_append(rows, ARR(jv_string(buckets[i]), jv_number(f.hist[i])));
	rep = add_section(rep, sec_rows(sec, rows, why));

	sec = section("misses", "SLA misses by delivery day", "day:day,delivered:int,met:int,missed:int,open:int");
	rows = jv_array();
	/* Every local day of the window, those without deliveries too, so the
	 * chart is a time axis: on the local clock each day is 86400 s, the
	 * 23-hour day of a DST change too. */
	for (fs_time t = wall_or(q, from, 0) / 86400 * 86400; f.gs.n > 0 && t < wall_or(q, to, 0); t += 86400) {
		char day[11];
		jv cell;
		double n[3] = {0, 0, 0};

		wall_date(t, day);
		cell = jv_object_get(jv_copy(f.days), jv_string(day));
		for (int i = 0; i < 3 && jv_get_kind(cell) == JV_KIND_ARRAY; i++)
			n[i] = jv_number_value(jv_array_get(jv_copy(cell), i));
		jv_free(cell);
		rows = jv_array_append(rows, ARR(jv_string(day), jv_number(n[0]), jv_number(n[1]), jv_number(n[2]),
						 jv_number(n[0] - n[1] - n[2])));
	}
	jv_free(f.days);
	rep = add_section(rep, sec_rows(sec, rows, why));
	groups_free(&f.gs);

	/* Mail status: how far the pieces started in the window got, and where they are now. */
	{
		jv agg = qrows(q,
		    "SELECT count(*), count(coalesce(queued_at, mailed_at, delivered_at, returned_at)),"
		    "  count(coalesce(mailed_at, delivered_at, returned_at)), count(delivered_at), count(returned_at),"
		    "  count(failed_at), count(CASE status WHEN 'queued' THEN 1 END),"
		    "  count(CASE status WHEN 'sent' THEN 1 END), count(CASE status WHEN 'delivered' THEN 1 END),"
		    "  count(CASE status WHEN 'returned' THEN 1 END), count(CASE status WHEN 'failed' THEN 1 END)"
		    " FROM pieces WHERE " PIECE_START " >= ?1 AND " PIECE_START " < ?2", "ss", from, to);
		jv a = jv_array_get(agg, 0);
		static const char *const stages[] = {"queued", "sent", "delivered", "returned", "failed"};
		int total = (int)jv_number_value(jv_array_get(jv_copy(a), 0));

		snprintf(why, sizeof why, "no pieces requested %s", win);
		sec = section("mail_status", "Mail status of the pieces requested in the window",
			      "status:text,reached:int,reached_pct:pct,now:int");
		rows = jv_array();
		if (total > 0) {
			rows = jv_array_append(rows, ARR(jv_string("requested"), jv_number(total),
							      jv_number(100), jv_null()));
			for (int i = 0; i < 5; i++) {
				int reached = (int)jv_number_value(jv_array_get(jv_copy(a), i + 1));

				rows = jv_array_append(rows, ARR(jv_string(stages[i]), jv_number(reached),
								      pct(reached, total),
								      jv_array_get(jv_copy(a), i + 6)));
			}
		}
		jv_free(a);
		rep = add_section(rep, sec_rows(sec, rows, why));
	}

	rep = add_section(rep, vendor_sla(q, o, from, to, win));
	return rep;
}

/* How an incident was detected: fs-watchdog's rule, and for webhook alerts
 * the finding's text ("3 failed deliveries in a row", "no event for 1h…"). */
static const char *
detected_by(const char *rule, const char *detail)
{
	if (rule == NULL)
		return "?";
	if (strcmp(rule, "webhook") == 0)
		return detail && (strstr(detail, "no event") || strstr(detail, "silen")) ? "silence" : "failures";
	if (strcmp(rule, "sync_lag") == 0)
		return "sync lag";
	if (strcmp(rule, "follow_up") == 0)
		return "sla";
	if (strcmp(rule, "retry_storm") == 0)
		return "retries";
	return rule;
}

/* Outages: a webhook failing, silent or stripped of its signatures by a proxy, or a sync lagging. */
static bool
is_outage(const char *rule)
{
	return rule && (strcmp(rule, "webhook") == 0 || strcmp(rule, "stripped") == 0 || strcmp(rule, "sync_lag") == 0);
}

/* Alerts opened in the window, and those still unresolved from before it. */
static jv
incidents(struct q *q, const char *from, const char *to)
{
	return qrows(q,
	    "SELECT id, rule, subject, opened_at, acked_at, acked_by, resolved_at, state, detail FROM alerts"
	    " WHERE opened_at >= ?1 AND opened_at < ?2"
	    " UNION SELECT id, rule, subject, opened_at, acked_at, acked_by, resolved_at, state, detail FROM alerts"
	    " WHERE state IN ('open', 'acked') AND opened_at < ?1 ORDER BY 4, 1", "ss", from, to);
}

static jv
minutes(const char *a, const char *b)
{
	fs_time x, y;

	if (!a || !b || fs_time_parse(a, &x) || fs_time_parse(b, &y))
		return jv_null();
	return jv_number(round1((double)(y - x) / 60.0));
}

static const char *
jstr_at(jv row, int i, char *buf, size_t n)
{
	jv v = jv_array_get(jv_copy(row), i);
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		snprintf(buf, n, "%s", jv_string_value(v));
		s = buf;
	}
	jv_free(v);
	return s;
}

/* Outages (failures or silence) detected and recovery times, for the pilot and health. */
struct incident_stats {
	int incidents, outages, webhook, acked, resolved;
	double rec_sum, rec_worst;
};

static void
incident_stats(jv inc, const char *from, struct incident_stats *is)
{
	memset(is, 0, sizeof *is);
	jv_array_foreach(inc, i, row) {
		char rule[128], opened[32], acked[32], resolved[32];
		const char *r = jstr_at(row, 1, rule, sizeof rule), *op = jstr_at(row, 3, opened, sizeof opened);
		const char *ak = jstr_at(row, 4, acked, sizeof acked), *rs = jstr_at(row, 6, resolved, sizeof resolved);

		(void)i;
		if (op && strcmp(op, from) >= 0) {
			is->incidents++;
			is->outages += is_outage(r);
			is->webhook += r && strcmp(r, "webhook") == 0;
		}
		is->acked += ak != NULL;
		/* A missed follow-up is resolved by a person's call, not by the
		 * system recovering: it has no place in recovery times. */
		if (rs && !(r && strcmp(r, "follow_up") == 0)) {
			jv m = minutes(op, rs);

			if (jv_is_valid(m) && jv_get_kind(m) == JV_KIND_NUMBER) {
				double v = jv_number_value(m);

				is->resolved++;
				is->rec_sum += v;
				if (v > is->rec_worst)
					is->rec_worst = v;
			}
			jv_free(m);
		}
		jv_free(row);
	}
}

/* Consecutive failed webhook requests at the end of a source's log. */
static int64_t
consecutive_failures(struct q *q, const char *source)
{
	return qint(q,
	    "SELECT count(*) FROM requests WHERE source = ?1 AND at > coalesce((SELECT max(at) FROM requests"
	    " WHERE source = ?1 AND status BETWEEN 200 AND 299), '')", "s", source);
}

static jv
panel_row(const char *item, const char *subject, jv value, const char *state)
{
	return ARR(jv_string(item), subject ? jv_string(subject) : jv_null(), value, jv_string(state));
}

/* request_hours counts per UTC hour ("2026-11-29T19"): outside UTC each
 * hour is named by its first second in the zone, with the offset (a zone
 * half an hour off UTC starts its hours at :30). */
static jv
local_hours(struct q *q, jv rows)
{
	if (q->zone.utc)
		return rows;
	jv_array_foreach(rows, i, row) {
		char hour[32], stamp[40];

		if (jstr_at(row, 0, hour, sizeof hour)) {
			snprintf(stamp, sizeof stamp, "%.13s:00:00Z", hour);
			row = jv_array_set(row, 0, local_time(q, jv_string(stamp)));
		}
		rows = jv_array_set(rows, i, row);
	}
	return rows;
}

/* health: the panel (now), incidents in the window, and the webhook timeline. */
static jv
report_health(struct q *q, const struct fs_report_opts *o, const char *from, const char *to)
{
	jv rep = report("health", "Webhook and sync health", from, to), sec, rows, inc, r;
	struct incident_stats is;
	char win[64], why[160], buf[160];
	int64_t n;

	if (qint(q, "SELECT (SELECT count(*) FROM (SELECT 1 FROM requests LIMIT 1)) +"
		    " (SELECT count(*) FROM (SELECT 1 FROM alerts LIMIT 1)) +"
		    " (SELECT count(*) FROM (SELECT 1 FROM changelog LIMIT 1)) +"
		    " (SELECT count(*) FROM (SELECT 1 FROM dlq LIMIT 1)) +"
		    " (SELECT count(*) FROM (SELECT 1 FROM cursors LIMIT 1))", NULL) == 0)
		return empty(rep, "the state file has no webhook requests, alerts, syncs or audit rows yet");
	window_text(q, from, to, win, sizeof win);

	/* The panel: the state now, whatever the window. */
	rows = jv_array();
	r = qrows(q, "SELECT received_at, source FROM inbox ORDER BY received_at DESC LIMIT 1", NULL);
	if (jv_array_length(jv_copy(r)) > 0) {
		jv row = jv_array_get(jv_copy(r), 0);

		rows = jv_array_append(rows, panel_row("last_event_received",
			jstr_at(row, 1, buf, sizeof buf), local_time(q, jv_array_get(jv_copy(row), 0)), "ok"));
		jv_free(row);
	} else {
		rows = jv_array_append(rows, panel_row("last_event_received", NULL, jv_null(), "warn"));
	}
	jv_free(r);
	r = qrows(q, "SELECT committed_at, source || '/' || stream FROM cursors ORDER BY committed_at DESC LIMIT 1", NULL);
	if (jv_array_length(jv_copy(r)) > 0) {
		jv row = jv_array_get(jv_copy(r), 0);

		rows = jv_array_append(rows, panel_row("last_sync", jstr_at(row, 1, buf, sizeof buf),
						       local_time(q, jv_array_get(jv_copy(row), 0)), "ok"));
		jv_free(row);
	}
	jv_free(r);
	r = qrows(q, "SELECT at, object FROM changelog WHERE kind = 'send' ORDER BY at DESC LIMIT 1", NULL);
	if (jv_array_length(jv_copy(r)) > 0) {
		jv row = jv_array_get(jv_copy(r), 0);

		rows = jv_array_append(rows, panel_row("last_successful_delivery", jstr_at(row, 1, buf, sizeof buf),
						       local_time(q, jv_array_get(jv_copy(row), 0)), "ok"));
		jv_free(row);
	} else {
		rows = jv_array_append(rows, panel_row("last_successful_delivery", NULL, jv_null(), "warn"));
	}
	jv_free(r);
	/* Each webhook source: its failure streak and its mode. */
	r = qrows(q, "SELECT source, mode FROM source_modes UNION SELECT DISTINCT source, NULL FROM request_hours"
		     " WHERE hour >= substr(?1, 1, 13) AND source NOT IN (SELECT source FROM source_modes)"
		     " ORDER BY 1", "s", from);
	jv_array_foreach(r, i, row) {
		char src[128], mode[32];
		const char *s = jstr_at(row, 0, src, sizeof src), *m = jstr_at(row, 1, mode, sizeof mode);
		int64_t fails = consecutive_failures(q, s);

		(void)i;
		rows = jv_array_append(rows, panel_row("consecutive_failures", s, jv_number((double)fails),
			fails >= o->webhook_failures ? "bad" : fails > 0 ? "warn" : "ok"));
		rows = jv_array_append(rows, panel_row("mode", s, jv_string(m ? m : "webhook"),
			m && strcmp(m, "polling") == 0 ? "warn" : "ok"));
		jv_free(row);
	}
	jv_free(r);
	r = qrows(q, "SELECT count(*), max(attempts), min(next_attempt_at) FROM outbox"
		     " WHERE state = 'pending' AND attempts > 0 AND next_attempt_at IS NOT NULL", NULL);
	{
		jv row = jv_array_get(jv_copy(r), 0);
		int64_t k = (int64_t)jv_number_value(jv_array_get(jv_copy(row), 0));

		if (k > 0)
		{
			jv next = local_time(q, jv_array_get(jv_copy(row), 2));
			char when[FS_REPORT_WHEN];

			snprintf(buf, sizeof buf, "%lld %s backing off, up to attempt %d, next %s",
				 (long long)k, k == 1 ? "delivery" : "deliveries",
				 (int)jv_number_value(jv_array_get(jv_copy(row), 1)),
				 jv_get_kind(next) == JV_KIND_STRING ? fs_report_when(jv_string_value(next), when) : "");
			jv_free(next);
		}
		else
			snprintf(buf, sizeof buf, "none");
		rows = jv_array_append(rows, panel_row("retrying", NULL, jv_string(buf), k > 0 ? "warn" : "ok"));
		jv_free(row);
	}
	jv_free(r);
	window_text(q, from, to, win, sizeof win);
	if (fs_dlq_count(q->st, &n) != 0)
		q->err = 1;
	rows = jv_array_append(rows, panel_row("dlq_open", NULL, jv_number((double)n),
					       n > o->dlq_max ? "bad" : n > 0 ? "warn" : "ok"));
	n = qint(q, "SELECT count(*) FROM alerts WHERE state IN ('open', 'acked')", NULL);
	rows = jv_array_append(rows, panel_row("open_alerts", NULL, jv_number((double)n), n > 0 ? "bad" : "ok"));
	n = qint(q, "SELECT count(*) FROM holds WHERE lifted_at IS NULL", NULL);
	rows = jv_array_append(rows, panel_row("active_holds", NULL, jv_number((double)n), n > 0 ? "bad" : "ok"));
	sec = section("status", "Health now", "item:text,subject:text,value:text,state:text");
	rep = add_section(rep, sec_set(sec, "rows", rows));

	/* Incidents. */
	inc = incidents(q, from, to);
	incident_stats(inc, from, &is);
	rows = jv_array();
	jv_array_foreach(inc, i, row) {
		char rule[128], op[32], ak[32], rs[32], detail[512];
		const char *ru = jstr_at(row, 1, rule, sizeof rule), *de = jstr_at(row, 8, detail, sizeof detail);

		(void)i;
		jstr_at(row, 3, op, sizeof op);
		rows = jv_array_append(rows, ARR(jv_array_get(jv_copy(row), 0), jv_array_get(jv_copy(row), 1),
			jv_array_get(jv_copy(row), 2), jv_string(detected_by(ru, de)), jv_array_get(jv_copy(row), 3),
			jv_array_get(jv_copy(row), 7), jv_array_get(jv_copy(row), 4), jv_array_get(jv_copy(row), 5),
			jv_array_get(jv_copy(row), 6),
			minutes(op, jstr_at(row, 4, ak, sizeof ak)), minutes(op, jstr_at(row, 6, rs, sizeof rs))));
		jv_free(row);
	}
	jv_free(inc);
	snprintf(why, sizeof why, "no incidents %s", win);
	sec = section("incidents", "Incidents",
		      "id:int,rule:text,subject:text,detected:text,opened_at:time,state:text,acked_at:time:wide,"
		      "acked_by:text:wide,resolved_at:time:wide,ack_min:num,recovery_min:num");
	rep = add_section(rep, sec_rows(sec, rows, why));

	sec = section("summary", "Outages and recovery", "metric:text,value:auto");
	rows = jv_array();
	rows = jv_array_append(rows, ARR(jv_string("incidents"), jv_number(is.incidents)));
	rows = jv_array_append(rows, ARR(jv_string("outages_detected"), jv_number(is.outages)));
	rows = jv_array_append(rows, ARR(jv_string("acknowledged"), jv_number(is.acked)));
	rows = jv_array_append(rows, ARR(jv_string("resolved"), jv_number(is.resolved)));
	rows = jv_array_append(rows, ARR(jv_string("avg_recovery_min"),
		num_or_null(is.resolved > 0, is.resolved ? round1(is.rec_sum / is.resolved) : 0)));
	rows = jv_array_append(rows, ARR(jv_string("worst_recovery_min"),
		num_or_null(is.resolved > 0, is.rec_worst)));
	rows = jv_array_append(rows, ARR(jv_string("fallbacks_to_polling"), jv_number((double)qint(q,
		"SELECT count(*) FROM changelog WHERE kind = 'fallback.polling' AND at >= ?1 AND at < ?2", "ss", from, to))));
	rows = jv_array_append(rows, ARR(jv_string("returns_to_webhook"), jv_number((double)qint(q,
		"SELECT count(*) FROM changelog WHERE kind = 'fallback.webhook' AND at >= ?1 AND at < ?2", "ss", from, to))));
	rep = add_section(rep, sec_set(sec, "rows", rows));

	sec = section("fallbacks", "Fallbacks between webhook and polling",
		      "at:time,kind:text,object:text,detail:json");
	snprintf(why, sizeof why, "no fallbacks %s", win);
	rep = add_section(rep, sec_rows(sec, qrows(q,
		"SELECT at, kind, object, detail FROM changelog WHERE kind IN ('fallback.polling', 'fallback.webhook')"
		" AND at >= ?1 AND at < ?2 ORDER BY at, id", "ss", from, to), why));

	sec = section("timeline", "Webhook requests per hour", "hour:text,source:text,ok:int,failed:int");
	snprintf(why, sizeof why, "no webhook requests %s", win);
	rep = add_section(rep, sec_rows(sec, local_hours(q, qrows(q,
		"SELECT hour, source, ok, failed FROM request_hours WHERE hour >= substr(?1, 1, 13) AND hour < ?2"
		" ORDER BY hour, source", "ss", from, to)), why));
	return rep;
}

/* Monday of the week of a YYYY-MM-DD day. */
static void
week_of(const char *day, char out[11])
{
	char stamp[32], buf[21];
	fs_time t;

	snprintf(stamp, sizeof stamp, "%.10sT00:00:00Z", day);
	if (fs_time_parse(stamp, &t) != 0) {
		snprintf(out, 11, "%.10s", day);
		return;
	}
	t -= ((t / 86400 + 3) % 7) * 86400;	/* 1970-01-01 was a Thursday */
	fs_time_format(t, buf);
	snprintf(out, 11, "%.10s", buf);
}

static int
what_index(const char *what)
{
	static const char *const w[] = {"idempotency", "debounce", "campaign_guard", "held", "released"};

	for (int i = 0; i < 5; i++)
		if (what && strcmp(what, w[i]) == 0)
			return i;
	return -1;
}

/* dedupe: suppressed triggers per week, and the duplicate-set scans. */
static jv
report_dedupe(struct q *q, const char *from, const char *to)
{
	jv rep = report("dedupe", "Duplicate triggers and duplicate sets", from, to), sec, rows, counts, scans;
	char win[64], why[160], last_day[21];
	struct week {
		char week[11];
		int64_t n[5];
		jv sets;
	} *wk = NULL;
	int nwk = 0;

	if (qint(q, "SELECT (SELECT count(*) FROM (SELECT 1 FROM dedupe_counts LIMIT 1)) +"
		    " (SELECT count(*) FROM (SELECT 1 FROM duplicate_sets LIMIT 1)) +"
		    " (SELECT count(*) FROM (SELECT 1 FROM changelog WHERE kind = 'dedupe.scan' LIMIT 1))", NULL) == 0)
		return empty(rep, "fs-dedupe has recorded no suppressions and no scans in this state file");
	window_text(q, from, to, win, sizeof win);
	{
		fs_time t = parse_or(to, 0) - 1;

		fs_time_format(t, last_day);
		last_day[10] = '\0';
	}
	counts = qrows(q, "SELECT day, what, n FROM dedupe_counts WHERE day >= substr(?1, 1, 10) AND day <= ?2"
			  " ORDER BY day", "ss", from, last_day);
	scans = qrows(q, "SELECT scan_id, min(at), count(*),"
			 " sum(CASE WHEN json_valid(members) THEN json_array_length(members) ELSE 0 END)"
			 " FROM duplicate_sets WHERE at >= ?1 AND at < ?2 GROUP BY scan_id ORDER BY 2, 1", "ss", from, to);

	/* Weeks from the window's first Monday to its last. */
	{
		fs_time t = parse_or(from, 0), end = parse_or(to, 0);

		for (; t < end; t += 86400) {
			char buf[21], w[11];

			fs_time_format(t, buf);
			week_of(buf, w);
			if (nwk == 0 || strcmp(wk[nwk - 1].week, w) != 0) {
				wk = fs_xrealloc(wk, (size_t)(nwk + 1) * sizeof *wk);
				memset(&wk[nwk], 0, sizeof *wk);
				memcpy(wk[nwk].week, w, 11);
				wk[nwk].sets = jv_null();
				nwk++;
			}
		}
	}
	jv_array_foreach(counts, i, row) {
		char day[32], what[64], w[11];
		int k = what_index(jstr_at(row, 1, what, sizeof what));

		(void)i;
		week_of(jstr_at(row, 0, day, sizeof day) ? day : "", w);
		for (int j = 0; j < nwk && k >= 0; j++)
			if (strcmp(wk[j].week, w) == 0)
				wk[j].n[k] += (int64_t)jv_number_value(jv_array_get(jv_copy(row), 2));
		jv_free(row);
	}
	jv_free(counts);
	/* A week's duplicate sets: those of its last scan. */
	jv_array_foreach(scans, i, row) {
		char at[32], w[11];

		(void)i;
		week_of(jstr_at(row, 1, at, sizeof at) ? at : "", w);
		for (int j = 0; j < nwk; j++)
			if (strcmp(wk[j].week, w) == 0) {
				jv_free(wk[j].sets);
				wk[j].sets = jv_array_get(jv_copy(row), 2);
			}
		jv_free(row);
	}
	sec = section("weekly", "Duplicate triggers suppressed, per week",
		      "week:day,idempotency:int,debounce:int,campaign_guard:int,suppressed:int,held:int,released:int,"
		      "dup_sets:int,change:int");
	rows = jv_array();
	{
		jv prev = jv_null();

		for (int j = 0; j < nwk; j++) {
			jv change = jv_get_kind(prev) == JV_KIND_NUMBER && jv_get_kind(wk[j].sets) == JV_KIND_NUMBER
				? jv_number(jv_number_value(wk[j].sets) - jv_number_value(prev)) : jv_null();

			rows = jv_array_append(rows, ARR(jv_string(wk[j].week), jv_number((double)wk[j].n[0]),
				jv_number((double)wk[j].n[1]), jv_number((double)wk[j].n[2]),
				jv_number((double)(wk[j].n[0] + wk[j].n[1] + wk[j].n[2])), jv_number((double)wk[j].n[3]),
				jv_number((double)wk[j].n[4]), jv_copy(wk[j].sets), change));
			if (jv_get_kind(wk[j].sets) == JV_KIND_NUMBER) {
				jv_free(prev);
				prev = jv_copy(wk[j].sets);
			}
			jv_free(wk[j].sets);
		}
		jv_free(prev);
	}
	free(wk);
	/* fs-dedupe counts per UTC day: its days cannot be cut at another midnight. */
	sec = sec_set(sec, "note", jv_string(q->zone.utc
		? "weeks start on Monday; duplicate_sets is the week's last scan"
		: "weeks start on Monday, of UTC days (fs-dedupe counts per UTC day); duplicate_sets is the week's last scan"));
	rep = add_section(rep, sec_set(sec, "rows", rows));

	sec = section("scans", "Duplicate-set scans (report only: the CRM merges)",
		      "scan_id:text:wide,at:time,sets:int,contacts:int,change:int");
	rows = jv_array();
	{
		double prev = -1;

		jv_array_foreach(scans, i, row) {
			double sets = jv_number_value(jv_array_get(jv_copy(row), 2));

			(void)i;
			row = jv_array_append(row, num_or_null(prev >= 0, sets - prev));
			rows = jv_array_append(rows, row);
			prev = sets;
		}
	}
	jv_free(scans);
	snprintf(why, sizeof why, "no duplicate scans %s", win);
	rep = add_section(rep, sec_rows(sec, rows, why));
	return rep;
}

/*
 * The audit trail: the changelog, and the status history of every mail
 * piece (piece_status, from the vendor's events), which the changelog does
 * not copy.  A status row reads as kind mail.status on the piece, its detail
 * naming the piece's contact and campaign so that the filters find it; on a
 * tie it comes after the changelog rows of the same second (a send, then
 * its piece queued).
 */
#define TRAIL \
	"WITH trail(src, id, at, kind, object, event_id, run_id, detail) AS (" \
	" SELECT 0, id, at, kind, object, event_id, run_id, detail FROM changelog" \
	" UNION ALL SELECT 1, s.rowid, s.at, 'mail.status', 'mail:' || s.vendor_id, s.event_id, NULL," \
	"  json_object('status', s.status, 'vendor_id', s.vendor_id, 'vendor_event', s.detail," \
	"   'contact_id', p.contact_id, 'campaign', p.campaign)" \
	" FROM piece_status s LEFT JOIN pieces p ON p.vendor_id = s.vendor_id) "

/*
 * The detail keys that CSV spreads into columns of their own (the rest stays
 * in detail): the ones most kinds write, named as the detail names them.
 * Append only: a spreadsheet finds its columns by these names.
 */
static jv
detail_columns(void)
{
	static const char *const keys[][2] = {
		{"contact_id", "text"}, {"campaign", "text"}, {"target", "text"}, {"vendor_id", "text"},
		{"status", "text"}, {"from", "auto"}, {"to", "auto"}, {"reason", "text"}, {"price", "money"},
	};
	jv out = jv_array();

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		out = jv_array_append(out, ARR(jv_string(keys[i][0]), jv_string(keys[i][1])));
	return out;
}

/* changelog: the audit trail, filtered. */
static jv
report_changelog(struct q *q, const struct fs_report_opts *o, const char *from, const char *to)
{
	jv rep = report("changelog", "Audit trail", from, to), sec, rows;
	struct fs_buf where = {0}, sql = {0};
	char win[64], why[256];
	const char *kind = o->kind;
	bool glob = kind && strchr(kind, '*');
	const char *args[7] = {from, to, kind, o->contact, o->campaign, o->event_id, o->run_id};

	if (qint(q, "SELECT count(*) FROM (SELECT 1 FROM changelog LIMIT 1)", NULL) == 0 &&
	    qint(q, "SELECT count(*) FROM (SELECT 1 FROM piece_status LIMIT 1)", NULL) == 0)
		return empty(rep, "the changelog is empty: no command has written to this state file yet");
	window_text(q, from, to, win, sizeof win);
	fs_buf_adds(&where, " WHERE at >= ?1 AND at < ?2");
	if (kind)
		fs_buf_adds(&where, glob ? " AND kind GLOB ?3" : " AND kind = ?3");
	if (o->contact)
		fs_buf_adds(&where, " AND (object = 'contact:' || ?4 OR json_extract(detail, '$.contact_id') = ?4)");
	if (o->campaign)
		fs_buf_adds(&where, " AND json_extract(detail, '$.campaign') = ?5");
	if (o->event_id)
		fs_buf_adds(&where, " AND event_id = ?6");
	if (o->run_id)
		fs_buf_adds(&where, " AND run_id = ?7");
	fs_buf_addc(&where, '\0');

	fs_buf_addf(&sql, TRAIL "SELECT at, kind, object, event_id, run_id, detail FROM trail%s ORDER BY at, src, id",
		    where.data);
	fs_buf_addc(&sql, '\0');
	rows = qrows_once(q, sql.data, args, 7);
	snprintf(why, sizeof why, "no changelog rows %s%s", win,
		 kind || o->contact || o->campaign || o->event_id || o->run_id ? " match the filters" : "");
	sec = section("entries", "Audit trail", "at:time,kind:text,object:text,event_id:text,run_id:text:wide,detail:json");
	rep = add_section(rep, sec_rows(sec_set(sec, "spread", detail_columns()), rows, why));

	sql.len = 0;
	fs_buf_addf(&sql, TRAIL "SELECT kind, count(*) FROM trail%s GROUP BY kind ORDER BY kind", where.data);
	fs_buf_addc(&sql, '\0');
	rows = qrows_once(q, sql.data, args, 7);
	sec = section("kinds", "Rows per kind", "kind:text,rows:int");
	rep = add_section(rep, sec_rows(sec, rows, why));
	fs_buf_free(&where);
	fs_buf_free(&sql);
	return rep;
}

/*
 * What fs-push did with each mail piece, from its changelog rows, which
 * carry the piece's campaign and price: sent, cancelled (before it went,
 * or at the vendor inside its send delay), suppressed (a do-not-mail
 * list, the CRM's flag, a return), capped (waiting for the next day) and
 * held (by an alert or a person).
 */
#define OUTCOME_KINDS "('send', 'send.cancel', 'send.suppressed', 'send.capped', 'send.held')"
#define OUTCOME_OF_KIND \
	"CASE kind WHEN 'send' THEN 'sent' WHEN 'send.cancel' THEN 'cancelled' WHEN 'send.suppressed' THEN 'suppressed'" \
	" WHEN 'send.capped' THEN 'capped' ELSE 'held' END"
static const char *const outcome_names[] = {"sent", "cancelled", "suppressed", "capped", "held"};
enum { OUT_SENT, OUT_CANCELLED, OUT_SUPPRESSED, OUT_CAPPED, OUT_HELD, NOUTCOME };

/* Pieces and cost of each outcome in [from, to); cost < 0 when none had a price. */
static void
outcome_totals(struct q *q, const char *from, const char *to, int64_t pieces[NOUTCOME], double cost[NOUTCOME])
{
	jv rows = qrows(q, "SELECT " OUTCOME_OF_KIND ", count(*), sum(json_extract(detail, '$.price')) FROM changelog"
			   " WHERE kind IN " OUTCOME_KINDS " AND at >= ?1 AND at < ?2 GROUP BY 1", "ss", from, to);

	for (int k = 0; k < NOUTCOME; k++)
		pieces[k] = 0, cost[k] = -1;
	jv_array_foreach(rows, i, r) {
		char name[16];

		(void)i;
		jstr_at(r, 0, name, sizeof name);
		for (int k = 0; k < NOUTCOME; k++) {
			if (strcmp(name, outcome_names[k]) != 0)
				continue;
			pieces[k] = (int64_t)jv_number_value(jv_array_get(jv_copy(r), 1));
			jv c = jv_array_get(jv_copy(r), 2);
			if (jv_get_kind(c) == JV_KIND_NUMBER)
				cost[k] = jv_number_value(c);
			jv_free(c);
		}
		jv_free(r);
	}
	jv_free(rows);
	/* A piece cancelled at the vendor was sent, then not charged: its
	 * cost is spared, not spent (a withdrawn row was never sent). */
	if (cost[OUT_SENT] > 0) {
		jv back = qrows(q, "SELECT sum(json_extract(detail, '$.price')) FROM changelog WHERE kind = 'send.cancel'"
				   " AND json_extract(detail, '$.vendor_id') IS NOT NULL AND at >= ?1 AND at < ?2", "ss",
				   from, to);
		jv c = jv_array_get(jv_array_get(back, 0), 0);

		if (jv_get_kind(c) == JV_KIND_NUMBER)
			cost[OUT_SENT] -= jv_number_value(c);
		jv_free(c);
	}
}

/* One window's figures for the pilot table. */
struct pilot_fig {
	bool measured;		/* fieldsync wrote to the changelog in the window */
	int delivered, followed, missed, decided;
	double med_bd, p90_bd, med_d;
	int64_t pieces, double_mailed, suppressed, sent, audited;
	int64_t outcome[NOUTCOME];	/* from fs-push's changelog rows */
	double outcome_cost[NOUTCOME];
	struct incident_stats is;
};

static void
pilot_window(struct q *q, const struct fs_report_opts *o, const char *from, const char *to, struct pilot_fig *p)
{
	struct followup f;
	jv inc;

	memset(p, 0, sizeof *p);
	p->measured = qint(q, "SELECT count(*) FROM (SELECT 1 FROM changelog WHERE at >= ?1 AND at < ?2 LIMIT 1)",
			   "ss", from, to) > 0;
	followup_collect(q, o, from, to, &f);
	for (int i = 0; i < f.gs.n; i++) {
		struct sample_set *g = &f.gs.g[i];

		if (strcmp(g->by, "all") != 0)
			continue;
		p->delivered = g->pieces;
		p->followed = g->n;
		p->missed = g->missed;
		p->decided = g->met + g->missed;
		if (g->n) {
			p->med_bd = pctile(g->bd, g->n, 50);
			p->p90_bd = pctile(g->bd, g->n, 90);
			p->med_d = round1(pctile(g->days, g->n, 50));
		}
	}
	groups_free(&f.gs);
	jv_free(f.days);
	p->pieces = qint(q, "SELECT count(*) FROM pieces WHERE " PIECE_START " >= ?1 AND " PIECE_START " < ?2",
			 "ss", from, to);
	/* A second piece to the same contact for the same campaign is a double mailing. */
	p->double_mailed = p->pieces - qint(q,
	    "SELECT count(*) FROM (SELECT DISTINCT contact_id, campaign FROM pieces WHERE " PIECE_START " >= ?1 AND "
	    PIECE_START " < ?2)", "ss", from, to);
	p->suppressed = qint(q, "SELECT coalesce(sum(n), 0) FROM dedupe_counts WHERE day >= substr(?1, 1, 10)"
			       " AND day < substr(?2, 1, 10) AND what IN ('idempotency', 'debounce', 'campaign_guard')",
			       "ss", from, to);
	/* A sent piece's trail is complete with a send row naming its event, run and vendor id. */
	p->sent = qint(q, "SELECT count(*) FROM pieces WHERE " PIECE_START " >= ?1 AND " PIECE_START " < ?2"
			  " AND coalesce(queued_at, mailed_at, delivered_at, returned_at) IS NOT NULL", "ss", from, to);
	p->audited = qint(q, "SELECT count(*) FROM pieces p WHERE " PIECE_START " >= ?1 AND " PIECE_START " < ?2"
			     " AND coalesce(queued_at, mailed_at, delivered_at, returned_at) IS NOT NULL"
			     " AND EXISTS (SELECT 1 FROM changelog c WHERE c.event_id = p.event_id AND c.kind = 'send'"
			     "  AND c.run_id IS NOT NULL AND json_extract(c.detail, '$.vendor_id') = p.vendor_id)",
			     "ss", from, to);
	outcome_totals(q, from, to, p->outcome, p->outcome_cost);
	inc = incidents(q, from, to);
	incident_stats(inc, from, &p->is);
	jv_free(inc);
}

static jv
pilot_row(const char *metric, const char *unit, jv base, jv pilot)
{
	bool money = strcmp(unit, "price units") == 0;
	double d = jv_get_kind(base) == JV_KIND_NUMBER && jv_get_kind(pilot) == JV_KIND_NUMBER
		? jv_number_value(pilot) - jv_number_value(base) : NAN;
	jv change = isnan(d) ? jv_null() : jv_number(money ? round2(d) : round1(d));

	return ARR(jv_string(metric), jv_string(unit), base, pilot, change);
}

/* Parses "FROM..TO"; -1 when malformed. */
int
fs_report_range(const char *s, const char *tz, fs_time *from, fs_time *to)
{
	const char *dots = s ? strstr(s, "..") : NULL;
	char *a;
	int rc;

	if (dots == NULL)
		return -1;
	a = fs_xasprintf("%.*s", (int)(dots - s), s);
	rc = fs_time_arg(a, tz, false, from) || fs_time_arg(dots + 2, tz, true, to) ? -1 : 0;
	free(a);
	return rc;
}

/* pilot: the before/after table. */
static jv
report_pilot(struct q *q, const struct fs_report_opts *o, const char *from, const char *to)
{
	char bf[21], bt[21], note[256];
	jv rep, sec, rows;
	struct pilot_fig b, p;
	struct pilot_fig *w[2] = {&b, &p};
	jv v[2];

	fs_time_format(o->base_from, bf);
	fs_time_format(o->base_to, bt);
	rep = report("pilot", "Pilot: before and after", from, to);
	rep = jv_object_set(rep, jv_string("baseline_from"), jv_string(bf));
	rep = jv_object_set(rep, jv_string("baseline_to"), jv_string(bt));
	if (qint(q, "SELECT count(*) FROM (SELECT 1 FROM pieces LIMIT 1)", NULL) == 0)
		return empty(rep, "no mail pieces in the state file: import past mailings with"
				  " 'fs-pull csv:FILE --as mail-history' for the baseline");
	pilot_window(q, o, bf, bt, &b);
	pilot_window(q, o, from, to, &p);

	rows = jv_array();
#define BOTH(expr_have, expr_val) \
	for (int k = 0; k < 2; k++) \
		v[k] = num_or_null((expr_have), (expr_val))
#define ROW(metric, unit) rows = jv_array_append(rows, pilot_row(metric, unit, v[0], v[1]))
	BOTH(true, (double)w[k]->pieces);
	ROW("pieces_mailed", "pieces");
	BOTH(true, w[k]->delivered);
	ROW("pieces_delivered", "pieces");
	BOTH(w[k]->followed > 0, w[k]->med_bd);
	ROW("follow_up_median", "business days");
	BOTH(w[k]->followed > 0, w[k]->p90_bd);
	ROW("follow_up_p90", "business days");
	BOTH(w[k]->followed > 0, w[k]->med_d);
	ROW("follow_up_median_days", "days");
	BOTH(w[k]->delivered > 0, w[k]->missed);
	ROW("follow_up_sla_missed", "pieces");
	BOTH(w[k]->decided > 0, w[k]->decided ? round1(100.0 * w[k]->missed / w[k]->decided) : 0);
	ROW("follow_up_sla_missed_pct", "%");
	BOTH(w[k]->pieces > 0, (double)w[k]->double_mailed);
	ROW("double_mailings", "pieces");
	BOTH(w[k]->measured, (double)w[k]->suppressed);
	ROW("duplicate_triggers_suppressed", "triggers");
	/* The brakes, apart from duplicates: only fieldsync's own rows say. */
	BOTH(w[k]->measured, (double)w[k]->outcome[OUT_SUPPRESSED]);
	ROW("pieces_suppressed", "pieces");
	BOTH(w[k]->measured, (double)w[k]->outcome[OUT_CAPPED]);
	ROW("pieces_capped", "pieces");
	BOTH(w[k]->measured, (double)w[k]->outcome[OUT_HELD]);
	ROW("pieces_held", "pieces");
	BOTH(w[k]->measured, (double)w[k]->outcome[OUT_CANCELLED]);
	ROW("pieces_cancelled", "pieces");
	BOTH(w[k]->outcome_cost[OUT_SENT] >= 0, round2(w[k]->outcome_cost[OUT_SENT]));
	ROW("cost_sent", "price units");
	BOTH(w[k]->outcome_cost[OUT_SUPPRESSED] >= 0 || w[k]->outcome_cost[OUT_CANCELLED] >= 0,
	     round2(fmax(w[k]->outcome_cost[OUT_SUPPRESSED], 0) + fmax(w[k]->outcome_cost[OUT_CANCELLED], 0)));
	ROW("cost_spared", "price units");
	BOTH(w[k]->measured, w[k]->is.webhook);
	ROW("webhook_outages_detected", "outages");
	BOTH(w[k]->sent > 0, w[k]->sent ? round1(100.0 * (double)w[k]->audited / (double)w[k]->sent) : 0);
	ROW("audit_trail_complete_pct", "%");
	BOTH(w[k]->is.resolved > 0, w[k]->is.resolved ? round1(w[k]->is.rec_sum / w[k]->is.resolved) : 0);
	ROW("recovery_avg_min", "minutes");
#undef BOTH
#undef ROW
	{
		char d[4][11];

		wall_date(fs_zone_wall(&q->zone, o->base_from), d[0]);
		wall_date(fs_zone_wall(&q->zone, o->base_to), d[1]);
		wall_date(wall_or(q, from, 0), d[2]);
		wall_date(wall_or(q, to, 0), d[3]);
		snprintf(note, sizeof note, "baseline %s..%s, pilot %s..%s; - means not measured"
			 " (fieldsync was not running, or nothing to measure)", d[0], d[1], d[2], d[3]);
	}
	sec = section("pilot", "Before and after", "metric:key,unit:text,baseline:auto,pilot:auto,change:auto");
	sec = sec_set(sec_set(sec, "rows", rows), "note", jv_string(note));
	return add_section(rep, sec);
}

/* outcomes' spend section: per day, campaign and outcome, the pieces and their cost. */
static jv
spend_section(struct q *q, const char *from, const char *to, const char *win)
{
	char why[160], note[320];
	jv sec = section("spend", "Spend, and what the brakes stopped, per campaign and day",
			 "day:day,campaign:text,outcome:text,pieces:int,cost:money");
	jv rows = qrows(q,
	    "SELECT local_day(at), coalesce(json_extract(detail, '$.campaign'), '(none)'), " OUTCOME_OF_KIND ","
	    " count(*), round(sum(json_extract(detail, '$.price')), 2) FROM changelog"
	    " WHERE kind IN " OUTCOME_KINDS " AND at >= ?1 AND at < ?2 GROUP BY 1, 2, 3"
	    " ORDER BY 1, 2, instr('sent cancelled suppressed capped held', " OUTCOME_OF_KIND ")", "ss", from, to);

	snprintf(why, sizeof why, "no mail piece sent, cancelled, suppressed, capped or held %s", win);
	sec = sec_rows(sec, rows, why);
	snprintf(note, sizeof note, "days in %s; cost at the target's price when the piece was queued"
		 " (-: no price set); a cancelled piece was sent first, or withdrawn before it went",
		 q->zone.utc ? "UTC" : q->zone.tz);
	return sec_set(sec, "note", jv_string(note));
}

/* outcomes' customers of an accounting source: how they matched CRM
 * contacts (all of them), and the revenue in the window that no match lets
 * fieldsync attribute. */
static jv
customer_sections(struct q *q, jv rep, const char *from, const char *to, const char *win)
{
	char why[160];
	jv sec = section("matches", "Customers matched to CRM contacts", "source:text,reason:text,customers:int,"
			 "ambiguous:int");
	jv rows = qrows(q,
	    "SELECT source, reason, count(*), sum(candidates > 1) FROM customer_matches GROUP BY 1, 2"
	    " ORDER BY 1, instr('email phone address none', reason)", NULL);

	sec = sec_rows(sec, rows, NULL);
	rep = add_section(rep, sec_set(sec, "note", jv_string("all customers so far; a match is the same e-mail, else"
		" phone, else normalised address; ambiguous: more than one contact matched, the one updated last won")));
	sec = section("unmatched", "Revenue from customers with no CRM contact",
		      "source:text,customer_id:text,name:text,payments:int,currency:text,amount:num");
	rows = qrows(q,
	    "SELECT m.source, m.customer_id, coalesce(m.name, ''), count(*), coalesce(r.currency, ''), sum(r.amount)"
	    " FROM customer_matches m JOIN revenue r ON r.contact_id = m.customer_id AND r.source = m.source"
	    " WHERE m.contact_id IS NULL AND r.at >= ?1 AND r.at < ?2 GROUP BY 1, 2, 5 ORDER BY 1, 2, 5",
	    "ss", from, to);
	snprintf(why, sizeof why, "no revenue %s from a customer without a CRM contact", win);
	return add_section(rep, sec_rows(sec, rows, why));
}

static bool
is_reply(const char *type)
{
	return type && (strcasecmp(type, "reply") == 0 || strcasecmp(type, "incoming_email") == 0);
}

/* outcomes: responses after mail and revenue attributed to a piece. */
static jv
report_outcomes(struct q *q, const struct fs_report_opts *o, const char *from, const char *to)
{
	jv rep = report("outcomes", "Responses and revenue after mail", from, to), sec, rows, attributed;
	struct camp {
		char *name;
		int pieces, responded, replies, activities;
	} *c = NULL;
	struct rev {
		char *campaign, *currency;
		int deals;
		double amount;
	} *rv = NULL;
	int nc = 0, nrv = 0, rc;
	char win[64], why[160], note[160];
	fs_stmt *s;
#define MAIL_AT "coalesce(mailed_at, queued_at, requested_at, delivered_at)"

	if (qint(q, "SELECT count(*) FROM (SELECT 1 FROM pieces LIMIT 1)", NULL) == 0 &&
	    qint(q, "SELECT count(*) FROM (SELECT 1 FROM changelog WHERE kind IN " OUTCOME_KINDS " LIMIT 1)", NULL) == 0)
		return empty(rep, "no mail pieces in the state file yet (fs-push records them as it sends)");
	window_text(q, from, to, win, sizeof win);
	s = fs_state_query(q->st, "SELECT vendor_id, contact_id, coalesce(campaign, '(none)'), " MAIL_AT
				    " FROM pieces WHERE " PIECE_START " >= ?1 AND " PIECE_START " < ?2"
				    " AND " MAIL_AT " IS NOT NULL ORDER BY 4, 1", "ss", from, to);
	if (s == NULL) {
		q->err = 1;
		return rep;
	}
	attributed = jv_array();
	c = fs_xmalloc(sizeof *c);
	memset(c, 0, sizeof *c);
	c[0].name = fs_xstrdup("all");
	nc = 1;
	while ((rc = fs_stmt_step(s)) == FS_ROW) {
		const char *vid = fs_col_text(s, 0), *cid = fs_col_text(s, 1);
		const char *camp = fs_col_text(s, 2), *at = fs_col_text(s, 3);
		fs_time t0 = parse_or(at, 0);
		char until[21];
		struct camp *g[2] = {&c[0], NULL};
		jv acts, revs;
		int replies = 0;

		fs_time_format(t0 + o->attribution, until);
		for (int i = 1; i < nc; i++)
			if (strcmp(c[i].name, camp) == 0)
				g[1] = &c[i];
		if (g[1] == NULL) {
			c = fs_xrealloc(c, (size_t)(nc + 1) * sizeof *c);
			memset(&c[nc], 0, sizeof *c);
			c[nc].name = fs_xstrdup(camp);
			g[0] = &c[0];
			g[1] = &c[nc++];
		}
		acts = qrows(q, "SELECT type FROM activities WHERE contact_id = ?1 AND at > ?2 AND at <= ?3",
			     "sss", cid, at, until);
		jv_array_foreach(acts, i, a) {
			char type[64];

			(void)i;
			replies += is_reply(jstr_at(a, 0, type, sizeof type));
			jv_free(a);
		}
		for (int k = 0; k < 2; k++) {
			g[k]->pieces++;
			g[k]->activities += jv_array_length(jv_copy(acts));
			g[k]->responded += jv_array_length(jv_copy(acts)) > 0;
			g[k]->replies += replies;
		}
		jv_free(acts);
		/* Last touch: a deal goes to the newest piece mailed to the contact
		 * before it.  The contact's revenue is its own and its matched
		 * customers' (a customer's revenue counts only through its match). */
		revs = qrows(q,
		    "SELECT r.deal_id, ?1, r.amount, coalesce(r.currency, ''), r.at FROM ("
		    "  SELECT * FROM revenue r WHERE r.contact_id = ?1 AND NOT EXISTS (SELECT 1 FROM customer_matches m"
		    "   WHERE m.source = r.source AND m.customer_id = r.contact_id)"
		    "  UNION ALL SELECT r.* FROM customer_matches m JOIN revenue r"
		    "   ON r.contact_id = m.customer_id AND r.source = m.source WHERE m.contact_id = ?1) r"
		    " WHERE r.at >= ?2 AND r.at <= ?3 AND NOT EXISTS (SELECT 1 FROM pieces q"
		    "  WHERE q.contact_id = ?1 AND q.vendor_id <> ?4 AND"
		    "  coalesce(q.mailed_at, q.queued_at, q.requested_at, q.delivered_at) > ?2 AND"
		    "  coalesce(q.mailed_at, q.queued_at, q.requested_at, q.delivered_at) <= r.at)"
		    " ORDER BY r.at", "ssss", cid, at, until, vid);
		jv_array_foreach(revs, i, r) {
			char cur[16], rat[32];
			const char *currency = jstr_at(r, 3, cur, sizeof cur);
			double amount = jv_number_value(jv_array_get(jv_copy(r), 2));
			struct rev *x = NULL;

			(void)i;
			for (int j = 0; j < nrv; j++)
				if (strcmp(rv[j].campaign, camp) == 0 && strcmp(rv[j].currency, currency) == 0)
					x = &rv[j];
			if (x == NULL) {
				rv = fs_xrealloc(rv, (size_t)(nrv + 1) * sizeof *rv);
				x = &rv[nrv++];
				x->campaign = fs_xstrdup(camp);
				x->currency = fs_xstrdup(currency);
				x->deals = 0;
				x->amount = 0;
			}
			x->deals++;
			x->amount += amount;
			attributed = jv_array_append(attributed, ARR(jv_array_get(jv_copy(r), 0),
				jv_array_get(jv_copy(r), 1), jv_array_get(jv_copy(r), 2), jv_string(currency),
				jv_array_get(jv_copy(r), 4), jv_string(vid), jv_string(camp),
				jv_number(round1((double)(parse_or(jstr_at(r, 4, rat, sizeof rat), t0) - t0) / 86400.0))));
			jv_free(r);
		}
		jv_free(revs);
	}
	if (rc != FS_DONE) {
		fs_state_error(q->st, "report");
		q->err = 1;
	}
	fs_stmt_reset(s);

	snprintf(why, sizeof why, "no pieces mailed %s", win);
	sec = section("responses", "Responses after mail",
		      "campaign:text,pieces:int,responded:int,response_pct:pct,activities:int,replies:int");
	rows = jv_array();
	for (int i = 0; i < nc; i++) {
		if (c[0].pieces > 0)
			rows = jv_array_append(rows, ARR(jv_string(c[i].name), jv_number(c[i].pieces),
				jv_number(c[i].responded), pct(c[i].responded, c[i].pieces), jv_number(c[i].activities),
				jv_number(c[i].replies)));
		free(c[i].name);
	}
	free(c);
	snprintf(note, sizeof note, "responses and deals count within %lld days of mailing (attribution)",
		 (long long)(o->attribution / 86400));
	rep = add_section(rep, sec_set(sec_rows(sec, rows, why), "note", jv_string(note)));

	sec = section("revenue", "Revenue attributed (last touch)", "campaign:text,currency:text,deals:int,amount:num");
	rows = jv_array();
	for (int i = 0; i < nrv; i++) {
		rows = jv_array_append(rows, ARR(jv_string(rv[i].campaign), jv_string(rv[i].currency),
						      jv_number(rv[i].deals), jv_number(rv[i].amount)));
		free(rv[i].campaign);
		free(rv[i].currency);
	}
	free(rv);
	rows = jv_sort(rows, jv_copy(rows));
	snprintf(why, sizeof why, "no deals won after the pieces mailed %s", win);
	rep = add_section(rep, sec_rows(sec, rows, why));
	sec = section("deals", "Deals attributed to a piece",
		      "deal_id:text,contact_id:text,amount:num,currency:text,won_at:time,vendor_id:text,campaign:text,"
		      "days_after_mail:num");
	rep = add_section(rep, sec_rows(sec, attributed, why));
	if (qint(q, "SELECT count(*) FROM (SELECT 1 FROM customer_matches LIMIT 1)", NULL) > 0)
		rep = customer_sections(q, rep, from, to, win);
	rep = add_section(rep, spend_section(q, from, to, win));
#undef MAIL_AT
	return rep;
}

/* SQL's local_day(at): the YYYY-MM-DD of an RFC 3339 time in the report's zone, NULL if not a time. */
static bool
sql_local_day(void *data, const char *at, char out[FS_SQL_FN_MAX])
{
	struct q *q = data;
	fs_time t;

	if (at == NULL || fs_time_parse(at, &t) != 0)
		return false;
	wall_date(fs_zone_wall(&q->zone, t), out);
	return true;
}

/* The value of each column of type time in a section's rows, in the zone. */
static jv
local_rows(struct q *q, jv sec)
{
	jv cols = jv_object_get(jv_copy(sec), jv_string("columns"));
	jv rows = jv_object_get(jv_copy(sec), jv_string("rows"));

	jv_array_foreach(cols, c, col) {
		jv type = jv_array_get(col, 1);

		if (strcmp(jv_string_value(type), "time") == 0)
			jv_array_foreach(rows, r, row) {
				jv v = local_time(q, jv_array_get(jv_copy(row), c));

				rows = jv_array_set(rows, r, jv_array_set(row, c, v));
			}
		jv_free(type);
	}
	jv_free(cols);
	return jv_object_set(sec, jv_string("rows"), rows);
}

/* The document's times in the business's zone, with their offset.  The
 * queries ran on UTC text (the state's times are UTC, compared as text):
 * this is the last step, and UTC has nothing to do. */
static jv
local_times(struct q *q, jv rep)
{
	static const char *const keys[] = {"from", "to", "generated_at", "baseline_from", "baseline_to"};
	jv secs;

	if (q->zone.utc)
		return rep;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		jv v = jv_object_get(jv_copy(rep), jv_string(keys[i]));

		if (jv_is_valid(v))
			rep = jv_object_set(rep, jv_string(keys[i]), local_time(q, v));
		else
			jv_free(v);
	}
	secs = jv_object_get(jv_copy(rep), jv_string("sections"));
	jv_array_foreach(secs, i, sec)
		secs = jv_array_set(secs, i, local_rows(q, sec));
	return jv_object_set(rep, jv_string("sections"), secs);
}

jv
fs_report_build(struct fs_state *st, const char *name, const struct fs_report_opts *o)
{
	struct q q = {.st = st};
	char from[21], to[21];
	jv rep;

	fs_time_format(o->from, from);
	fs_time_format(o->to, to);
	fs_zone_init(&q.zone, o->tz);
	/* Only while q lives: removed below. */
	if (fs_state_function(st, "local_day", sql_local_day, &q) != 0 || fs_state_zone(st, o->tz) != 0)
		return jv_invalid_with_msg(jv_string("state"));
	/* One read transaction: every section sees the same state. */
	if (fs_state_exec(st, "BEGIN") != 0)
		return jv_invalid_with_msg(jv_string("state"));
	if (strcmp(name, "sla") == 0)
		rep = report_sla(&q, o, from, to);
	else if (strcmp(name, "health") == 0)
		rep = report_health(&q, o, from, to);
	else if (strcmp(name, "dedupe") == 0)
		rep = report_dedupe(&q, from, to);
	else if (strcmp(name, "changelog") == 0)
		rep = report_changelog(&q, o, from, to);
	else if (strcmp(name, "pilot") == 0)
		rep = report_pilot(&q, o, from, to);
	else
		rep = report_outcomes(&q, o, from, to);
	fs_state_exec(st, "COMMIT");
	fs_state_function(st, "local_day", NULL, NULL);
	if (q.err) {
		jv_free(rep);
		return jv_invalid_with_msg(jv_string("state"));
	}
	return local_times(&q, rep);
}
