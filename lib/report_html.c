/*
 * The HTML dashboard: one self-contained page (inline CSS and SVG, no
 * scripts, nothing fetched), readable on a laptop screen and on paper.
 * Known sections get a chart; every section gets its table.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

static jv
get(jv o, const char *key)
{
	return jv_object_get(jv_copy(o), jv_string(key));
}

static const char *
sget(jv o, const char *key, char *buf, size_t n)
{
	jv v = get(o, key);
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		snprintf(buf, n, "%s", jv_string_value(v));
		s = buf;
	}
	jv_free(v);
	return s;
}

static void
esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* The section named name of report rname among reps; invalid if none. */
static jv
find(jv reps, const char *rname, const char *name)
{
	jv found = jv_invalid();

	jv_array_foreach(reps, i, rep) {
		char b[64];
		jv secs = get(rep, "sections");

		(void)i;
		if (jv_get_kind(secs) == JV_KIND_ARRAY && sget(rep, "report", b, sizeof b) && strcmp(b, rname) == 0)
			jv_array_foreach(secs, j, sec) {
				char n[64];

				(void)j;
				if (!jv_is_valid(found) && sget(sec, "name", n, sizeof n) && strcmp(n, name) == 0) {
					jv_free(found);
					found = jv_copy(sec);
				}
				jv_free(sec);
			}
		jv_free(secs);
		jv_free(rep);
	}
	return found;
}

static int
colidx(jv sec, const char *name)
{
	jv cols = get(sec, "columns");
	int idx = -1;

	jv_array_foreach(cols, i, c) {
		jv n = jv_array_get(jv_copy(c), 0);

		if (idx < 0 && strcmp(jv_string_value(n), name) == 0)
			idx = i;
		jv_free(n);
		jv_free(c);
	}
	jv_free(cols);
	return idx;
}

static double
num(jv row, int i)
{
	jv v = i >= 0 ? jv_array_get(jv_copy(row), i) : jv_invalid();
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;

	jv_free(v);
	return d;
}

static const char *
str(jv row, int i, char *buf, size_t n)
{
	jv v = i >= 0 ? jv_array_get(jv_copy(row), i) : jv_invalid();
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		snprintf(buf, n, "%s", jv_string_value(v));
		s = buf;
	}
	jv_free(v);
	return s;
}

/* A value as the tables print it. */
static void
put_value(FILE *f, jv v, const char *type)
{
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);

		if (strcmp(type, "money") == 0)
			fprintf(f, "%.2f", d);
		else if (strcmp(type, "num") == 0 || strcmp(type, "pct") == 0 || (strcmp(type, "auto") == 0 && d != floor(d)))
			fprintf(f, "%.1f", d);
		else
			fprintf(f, "%.0f", d);
		if (strcmp(type, "pct") == 0)
			fputs("%", f);
	} else if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		char when[FS_REPORT_WHEN];

		if (strcmp(type, "time") == 0)
			esc(f, fs_report_when(s, when));
		else if (strcmp(type, "key") == 0)
			esc(f, fs_report_label(s));	/* CSV and JSON keep the key */
		else
			esc(f, s);
	} else {
		fputs("<span class=\"na\">&ndash;</span>", f);
	}
	jv_free(v);
}

/* Consumes sec. */
static void
table(FILE *f, jv sec)
{
	jv rows, cols = fs_report_shown(get(sec, "columns"), get(sec, "rows"), true, &rows);
	jv why = get(sec, "empty"), note = get(sec, "note");

	if (jv_array_length(jv_copy(rows)) == 0) {
		fputs("<p class=\"empty\">Nothing to show: ", f);
		esc(f, jv_get_kind(why) == JV_KIND_STRING ? jv_string_value(why) : "no rows");
		fputs(".</p>\n", f);
	} else {
		fputs("<table><thead><tr>", f);
		jv_array_foreach(cols, c, col) {
			jv n = jv_array_get(jv_copy(col), 0), t = jv_array_get(jv_copy(col), 1);
			const char *type = jv_string_value(t);
			bool right = strcmp(type, "text") && strcmp(type, "key") && strcmp(type, "time") &&
				     strcmp(type, "day") && strcmp(type, "json");

			(void)c;
			fprintf(f, "<th%s>", right ? " class=\"r\"" : "");
			for (const char *p = jv_string_value(n); *p; p++)
				fputc(*p == '_' ? ' ' : *p, f);
			fputs("</th>", f);
			jv_free(n);
			jv_free(t);
			jv_free(col);
		}
		fputs("</tr></thead><tbody>\n", f);
		jv_array_foreach(rows, r, row) {
			(void)r;
			fputs("<tr>", f);
			jv_array_foreach(cols, c, col) {
				jv t = jv_array_get(jv_copy(col), 1);
				const char *type = jv_string_value(t);
				bool right = strcmp(type, "text") && strcmp(type, "key") && strcmp(type, "time") &&
					     strcmp(type, "day") && strcmp(type, "json");

				fprintf(f, "<td%s>", right ? " class=\"r\"" : "");
				put_value(f, jv_array_get(jv_copy(row), c), type);
				fputs("</td>", f);
				jv_free(t);
				jv_free(col);
			}
			fputs("</tr>\n", f);
			jv_free(row);
		}
		fputs("</tbody></table>\n", f);
	}
	if (jv_get_kind(note) == JV_KIND_STRING) {
		fputs("<p class=\"note\">", f);
		esc(f, jv_string_value(note));
		fputs("</p>\n", f);
	}
	jv_free(cols);
	jv_free(rows);
	jv_free(why);
	jv_free(note);
	jv_free(sec);
}

static void
card_open(FILE *f, const char *title, const char *cls)
{
	fprintf(f, "<section class=\"card %s\"><h2>", cls ? cls : "");
	esc(f, title);
	fputs("</h2>\n", f);
}

static const char *
label_of(const char *item)
{
	static const char *const map[][2] = {
		{"last_event_received", "Last event received"}, {"last_sync", "Last sync"},
		{"last_successful_delivery", "Last successful delivery"},
		{"consecutive_failures", "Consecutive webhook failures"}, {"mode", "Source mode"},
		{"retrying", "Retry and backoff"}, {"dlq_open", "Dead letters open"},
		{"open_alerts", "Open alerts"}, {"active_holds", "Active holds"},
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(item, map[i][0]) == 0)
			return map[i][1];
	return item;
}

/* Age of a time against the report's clock: "2 h ago". */
static void
put_age(FILE *f, const char *t, fs_time now)
{
	fs_time x;
	int64_t d;

	if (fs_time_parse(t, &x) != 0)
		return;
	d = now - x;
	if (d < 0)
		return;
	if (d < 3600)
		fprintf(f, " <small>%lld min ago</small>", (long long)(d / 60));
	else if (d < 2 * 86400)
		fprintf(f, " <small>%lld h ago</small>", (long long)(d / 3600));
	else
		fprintf(f, " <small>%lld days ago</small>", (long long)(d / 86400));
}

static void
health_panel(FILE *f, jv reps, fs_time now)
{
	jv sec = find(reps, "health", "status"), rows;

	if (!jv_is_valid(sec)) {
		jv_free(sec);
		return;
	}
	rows = get(sec, "rows");
	fputs("<section class=\"tiles health\" aria-label=\"health\">\n", f);
	jv_array_foreach(rows, i, row) {
		char item[64], subject[128], value[256], state[16], when[FS_REPORT_WHEN];
		const char *v = str(row, 2, value, sizeof value), *s = str(row, 1, subject, sizeof subject), *shown;
		double d = num(row, 2);

		if (v == NULL && !isnan(d)) {
			snprintf(value, sizeof value, "%g", d);
			v = value;
		}

		(void)i;
		str(row, 0, item, sizeof item);
		if (!str(row, 3, state, sizeof state))
			snprintf(state, sizeof state, "ok");
		fprintf(f, "<div class=\"tile %s\"><div class=\"k\">", state);
		esc(f, label_of(item));
		if (s) {
			fputs(" &middot; ", f);
			esc(f, s);
		}
		/* A time (the last event, sync, delivery) as the tables show it, with its age. */
		shown = v && fs_time_valid(v) ? fs_report_when(v, when) : v;
		fprintf(f, "</div><div class=\"v%s\">", shown && strlen(shown) > 24 ? " long" : "");
		if (shown == when) {
			esc(f, when);
			put_age(f, v, now);
		} else {
			esc(f, v ? v : "never");
		}
		fputs("</div></div>\n", f);
		jv_free(row);
	}
	fputs("</section>\n", f);
	jv_free(rows);
	jv_free(sec);
}

static void
kpi(FILE *f, const char *label, const char *value, const char *cls, const char *sub)
{
	fprintf(f, "<div class=\"tile kpi %s\"><div class=\"k\">", cls);
	esc(f, label);
	fputs("</div><div class=\"v big\">", f);
	esc(f, value);
	fputs("</div>", f);
	if (sub) {
		fputs("<div class=\"s\">", f);
		esc(f, sub);
		fputs("</div>", f);
	}
	fputs("</div>\n", f);
}

static void
kpis(FILE *f, jv reps)
{
	jv fu = find(reps, "sla", "followup"), vs = find(reps, "sla", "vendor_sla"), rows;
	char v[64], sub[128];

	if (!jv_is_valid(fu)) {
		jv_free(fu);
		jv_free(vs);
		return;
	}
	rows = get(fu, "rows");
	fputs("<section class=\"tiles kpis\" aria-label=\"key figures\">\n", f);
	if (jv_array_length(jv_copy(rows)) > 0) {
		jv all = jv_array_get(jv_copy(rows), 0);
		double pieces = num(all, colidx(fu, "pieces")), med = num(all, colidx(fu, "med_bd"));
		double medd = num(all, colidx(fu, "med_d")), met = num(all, colidx(fu, "met_pct"));
		double missed = num(all, colidx(fu, "missed")), open = num(all, colidx(fu, "open"));

		snprintf(v, sizeof v, "%.0f", pieces);
		kpi(f, "Pieces delivered", v, "neutral", "in the window");
		if (isnan(med))
			snprintf(v, sizeof v, "no follow-ups yet");
		else
			snprintf(v, sizeof v, "%.0f bd", med);
		snprintf(sub, sizeof sub, isnan(medd) ? "median, business days" : "median; %.1f calendar days", medd);
		kpi(f, "Time to first follow-up", v, "neutral", sub);
		snprintf(v, sizeof v, isnan(met) ? "n/a" : "%.1f%%", met);
		kpi(f, "Follow-up SLA met", v, isnan(met) ? "neutral" : met >= 90 ? "ok" : met >= 70 ? "warn" : "bad",
		    "of pieces met or missed so far");
		snprintf(v, sizeof v, "%.0f", missed);
		snprintf(sub, sizeof sub, "%.0f still inside the SLA", open);
		kpi(f, "Follow-up SLA missed", v, missed > 0 ? "bad" : "ok", sub);
		jv_free(all);
	} else {
		kpi(f, "Pieces delivered", "0", "neutral", "none in the window");
	}
	if (jv_is_valid(vs)) {
		jv vr = get(vs, "rows");

		jv_array_foreach(vr, i, row) {
			char stage[32], target[64], label[128];
			double m = num(row, colidx(vs, "met_pct")), t = num(row, colidx(vs, colidx(vs, "sla_bd") >= 0 ? "sla_bd" : "target_bd"));

			(void)i;
			str(row, colidx(vs, "stage"), stage, sizeof stage);
			if (str(row, colidx(vs, "target"), target, sizeof target))	/* one row per mail target */
				snprintf(label, sizeof label, "Vendor SLA: %s %s", target, stage);
			else
				snprintf(label, sizeof label, "Vendor SLA: %s", stage);
			snprintf(v, sizeof v, isnan(m) ? "n/a" : "%.1f%%", m);
			snprintf(sub, sizeof sub, "within %.0f business days of queued", t);
			kpi(f, label, v, isnan(m) ? "neutral" : m >= 95 ? "ok" : m >= 80 ? "warn" : "bad", sub);
			jv_free(row);
		}
		jv_free(vr);
	}
	fputs("</section>\n", f);
	jv_free(rows);
	jv_free(fu);
	jv_free(vs);
}

/* Vertical bars: label column li, value columns (stacked), with colours. */
static void
bars(FILE *f, jv sec, int li, const int *vi, const char *const *cls, int nv, const char *const *legend,
     const char *(*klass)(const char *label))
{
	jv rows = get(sec, "rows");
	int n = jv_array_length(jv_copy(rows));
	double max = 0, W = 560, H = 200, left = 36, bottom = 34, top = 12;
	double bw;

	if (n == 0) {
		jv_free(rows);
		return;
	}
	jv_array_foreach(rows, i, row) {
		double t = 0;

		(void)i;
		for (int k = 0; k < nv; k++)
			t += isnan(num(row, vi[k])) ? 0 : num(row, vi[k]);
		if (t > max)
			max = t;
		jv_free(row);
	}
	if (max < 1)
		max = 1;
	max = ceil(max);
	bw = (W - left - 8) / n;
	if (bw > 64)
		bw = 64;	/* a few days: bars stay bars, not walls */
	fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" class=\"chart\">", W, H);
	/* Grid lines at 0, half and the top. */
	for (int g = 0; g <= 2; g++) {
		double y = top + (H - top - bottom) * (1 - g / 2.0);

		fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
			   "<text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%g</text>",
			left, W - 4, y, y, left - 6, y + 4, max * g / 2.0);
	}
	jv_array_foreach(rows, i, row) {
		char label[64];
		double x = left + i * bw + bw * 0.15, y = H - bottom;

		str(row, li, label, sizeof label);
		for (int k = 0; k < nv; k++) {
			double v = isnan(num(row, vi[k])) ? 0 : num(row, vi[k]);
			double h = v / max * (H - top - bottom);
			const char *c = cls[k];

			if (klass)
				c = klass(label);
			if (v <= 0)
				continue;
			y -= h;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"%s\"><title>", x, y,
				bw * 0.7, h, c);
			esc(f, label);
			fprintf(f, ": %g</title></rect>", v);
			if (k == nv - 1 || nv == 1)
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"val\" text-anchor=\"middle\">%g</text>",
					x + bw * 0.35, y - 3, v);
		}
		/* Day labels: MM-DD; a fortnight fits. */
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">", x + bw * 0.35, H - bottom + 14);
		esc(f, strlen(label) == 10 && label[4] == '-' ? label + 5 : label);
		fputs("</text>", f);
		jv_free(row);
	}
	fputs("</svg>\n", f);
	if (legend) {
		fputs("<p class=\"legend\">", f);
		for (int k = 0; k < nv; k++) {
			fprintf(f, "<span class=\"sw %s\"></span>", cls[k]);
			esc(f, legend[k]);
			fputs(" ", f);
		}
		fputs("</p>\n", f);
	}
	jv_free(rows);
}

static int sla_bd = 3;	/* the follow-up SLA the histogram colours by */

static const char *
bucket_class(const char *label)
{
	if (label[0] < '0' || label[0] > '9')
		return "neutral";	/* none yet */
	return atoi(label) > sla_bd ? "bad" : "ok";
}

static void
funnel(FILE *f, jv sec)
{
	jv rows = get(sec, "rows");
	int n = jv_array_length(jv_copy(rows)), ri = colidx(sec, "reached"), pi = colidx(sec, "reached_pct");
	int ni = colidx(sec, "now");
	double max = 0, W = 560, rowh = 28;

	if (n == 0) {
		jv_free(rows);
		return;
	}
	jv_array_foreach(rows, i, row) {
		(void)i;
		if (num(row, ri) > max)
			max = num(row, ri);
		jv_free(row);
	}
	fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" class=\"chart\">", W + 60, n * rowh + 6);
	jv_array_foreach(rows, i, row) {
		char st[32];
		double v = num(row, ri), p = num(row, pi), w = max > 0 ? v / max * (W - 200) : 0;
		const char *cls = "ok";

		str(row, 0, st, sizeof st);
		if (strcmp(st, "returned") == 0 || strcmp(st, "failed") == 0)
			cls = "bad";
		else if (strcmp(st, "requested") == 0 || strcmp(st, "queued") == 0)
			cls = "neutral";
		fprintf(f, "<text x=\"0\" y=\"%.0f\" class=\"lab\">", i * rowh + 19);
		esc(f, st);
		fprintf(f, "</text><rect x=\"90\" y=\"%.0f\" width=\"%.1f\" height=\"20\" rx=\"3\" class=\"%s\"/>"
			   "<text x=\"%.1f\" y=\"%.0f\" class=\"val\">%g (%.1f%%)",
			i * rowh + 4, w < 1 && v > 0 ? 1 : w, cls, 96 + w, i * rowh + 19, v, isnan(p) ? 0 : p);
		if (!isnan(num(row, ni)))
			fprintf(f, " &middot; %g there now", num(row, ni));
		fputs("</text>", f);
		jv_free(row);
	}
	fputs("</svg>\n", f);
	jv_free(rows);
}

/* Webhook health: hourly cells per source, incidents and polling spans below. */
static void
timeline(FILE *f, jv reps, jv rep, const char *tz)
{
	jv tl = find(reps, "health", "timeline"), inc = find(reps, "health", "incidents");
	jv fb = find(reps, "health", "fallbacks"), rows;
	char from_s[32], to_s[32];
	fs_time from, to, start;
	struct fs_zone z;
	double W = 1100, left = 110, right = 10, span, y;
	char sources[8][64];
	int ns = 0;

	sget(rep, "from", from_s, sizeof from_s);
	sget(rep, "to", to_s, sizeof to_s);
	if (fs_time_parse(from_s, &from) || fs_time_parse(to_s, &to) || !jv_is_valid(tl)) {
		jv_free(tl);
		jv_free(inc);
		jv_free(fb);
		return;
	}
	span = (double)(to - from);
	rows = get(tl, "rows");
	jv_array_foreach(rows, i, row) {
		char s[64];
		bool seen = false;

		(void)i;
		str(row, 1, s, sizeof s);
		for (int k = 0; k < ns; k++)
			seen |= strcmp(sources[k], s) == 0;
		if (!seen && ns < 8)
			snprintf(sources[ns++], sizeof sources[0], "%s", s);
		jv_free(row);
	}
#define X(t) (left + ((double)((t) - from)) / span * (W - left - right))
	fprintf(f, "<svg viewBox=\"0 0 %.0f %d\" role=\"img\" class=\"chart timeline\">", W, 70 + ns * 26 + 60);
	/* Day ticks, at each local midnight (a DST day is 23 or 25 hours wide). */
	fs_zone_init(&z, tz);
	for (fs_time t = from, d; fs_local_day(t, tz, &start, &d) == 0 && d > t && d < to; t = d) {
		char b[26];

		fs_zone_format(&z, d, b);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"14\" y2=\"%d\" class=\"grid\"/>", X(d), X(d), 40 + ns * 26 + 52);
		if (X(d) < W - right - 16)
			fprintf(f, "<text x=\"%.1f\" y=\"10\" class=\"ax\" text-anchor=\"middle\">%.5s</text>", X(d), b + 5);
	}
	y = 20;
	for (int k = 0; k < ns; k++, y += 26) {
		fprintf(f, "<text x=\"0\" y=\"%.0f\" class=\"lab\">", y + 15);
		esc(f, sources[k]);
		fprintf(f, "</text><rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"20\" class=\"idle\"/>", left, y,
			W - left - right);
		jv_array_foreach(rows, i, row) {
			char s[64], hour[32], stamp[40];
			fs_time h;
			double ok = num(row, 2), failed = num(row, 3);

			(void)i;
			str(row, 1, s, sizeof s);
			str(row, 0, hour, sizeof hour);
			/* A UTC hour, 2026-11-29T19, or outside UTC its first second with the offset. */
			snprintf(stamp, sizeof stamp, "%.13s:00:00Z", hour);
			if (strcmp(s, sources[k]) == 0 && (fs_time_parse(hour, &h) == 0 || fs_time_parse(stamp, &h) == 0)) {
				double x0 = X(h < from ? from : h), x1 = X(h + 3600 > to ? to : h + 3600);

				fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"20\" class=\"%s\"><title>%s: %g ok,"
					   " %g failed</title></rect>", x0, y, x1 - x0 < 2 ? 2 : x1 - x0,
					failed > 0 ? "bad" : "ok", hour, ok, failed);
			}
			jv_free(row);
		}
	}
	jv_free(rows);
	/* Polling spans: from a fallback.polling to the next fallback.webhook. */
	fprintf(f, "<text x=\"0\" y=\"%.0f\" class=\"lab\">polling</text>", y + 15);
	if (jv_is_valid(fb)) {
		jv fr = get(fb, "rows");
		fs_time start = -1;

		jv_array_foreach(fr, i, row) {
			char at[32], kind[32];
			fs_time t;

			(void)i;
			str(row, 0, at, sizeof at);
			str(row, 1, kind, sizeof kind);
			if (fs_time_parse(at, &t) == 0) {
				if (strcmp(kind, "fallback.polling") == 0 && start < 0) {
					start = t;
				} else if (strcmp(kind, "fallback.webhook") == 0 && start >= 0) {
					fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"20\" class=\"poll\"/>",
						X(start), y, X(t) - X(start) < 3 ? 3 : X(t) - X(start));
					start = -1;
				}
			}
			jv_free(row);
		}
		if (start >= 0)
			fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"20\" class=\"poll\"/>", X(start), y,
				X(to) - X(start));
		jv_free(fr);
	}
	y += 26;
	fprintf(f, "<text x=\"0\" y=\"%.0f\" class=\"lab\">incidents</text>", y + 15);
	if (jv_is_valid(inc)) {
		jv ir = get(inc, "rows");
		int oi = colidx(inc, "opened_at"), ri = colidx(inc, "resolved_at");

		jv_array_foreach(ir, i, row) {
			char op[32], rs[32];
			fs_time a, b = to;

			(void)i;
			if (str(row, oi, op, sizeof op) && fs_time_parse(op, &a) == 0) {
				bool open = !str(row, ri, rs, sizeof rs) || fs_time_parse(rs, &b) != 0;

				if (open)
					b = to;
				if (a < from)
					a = from;
				/* Two lanes, so that incidents opened together stay apart. */
				double ly = y + (i % 2) * 11, lx = X(a) + (i % 2) * 16;

				bool edge = lx > W - right - 40;

				fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"9\" rx=\"2\" class=\"%s\"/>"
					   "<text x=\"%.1f\" y=\"%.0f\" class=\"val\" text-anchor=\"%s\">#%g%s</text>",
					X(a), ly, X(b) - X(a) < 4 ? 4 : X(b) - X(a), open ? "bad" : "warn",
					edge ? W - right : lx, y + 32 + (i % 2) * 12, edge ? "end" : "start", num(row, 0),
					open ? " open" : "");
			}
			jv_free(row);
		}
		jv_free(ir);
	}
#undef X
	fputs("</svg>\n<p class=\"legend\"><span class=\"sw ok\"></span>requests accepted "
	      "<span class=\"sw bad\"></span>hour with failures <span class=\"sw idle\"></span>no requests "
	      "<span class=\"sw poll\"></span>polling instead of webhooks "
	      "<span class=\"sw warn\"></span>incident (open to resolved)</p>\n", f);
	jv_free(tl);
	jv_free(inc);
	jv_free(fb);
}

/* Recovery times: a bar per incident, acknowledgement inside recovery. */
static void
recovery(FILE *f, jv sec)
{
	jv rows = get(sec, "rows");
	int ai = colidx(sec, "ack_min"), ri = colidx(sec, "recovery_min"), n = 0;
	double max = 0, W = 640, y = 0;

	jv_array_foreach(rows, i, row) {
		(void)i;
		if (!isnan(num(row, ri))) {
			n++;
			if (num(row, ri) > max)
				max = num(row, ri);
		}
		jv_free(row);
	}
	if (n == 0) {
		fputs("<p class=\"empty\">No incident resolved in the window.</p>\n", f);
		jv_free(rows);
		return;
	}
	fprintf(f, "<svg viewBox=\"0 0 %.0f %d\" role=\"img\" class=\"chart\">", W, n * 28 + 6);
	jv_array_foreach(rows, i, row) {
		char rule[64];
		double r = num(row, ri), a = num(row, ai), wr, wa;

		(void)i;
		if (!isnan(r)) {
			str(row, 1, rule, sizeof rule);
			wr = r / max * (W - 330);
			wa = isnan(a) ? 0 : a / max * (W - 330);
			fprintf(f, "<text x=\"0\" y=\"%.0f\" class=\"lab\">#%g ", y + 19, num(row, 0));
			esc(f, rule);
			fprintf(f, "</text><rect x=\"150\" y=\"%.0f\" width=\"%.1f\" height=\"20\" rx=\"3\" class=\"warn\"/>"
				   "<rect x=\"150\" y=\"%.0f\" width=\"%.1f\" height=\"20\" rx=\"3\" class=\"ack\"/>"
				   "<text x=\"%.1f\" y=\"%.0f\" class=\"val\">%g min (acked in %g)</text>",
				y + 4, wr, y + 4, wa, 156 + wr, y + 19, r, isnan(a) ? 0 : a);
			y += 28;
		}
		jv_free(row);
	}
	fputs("</svg>\n<p class=\"legend\"><span class=\"sw ack\"></span>opened to acknowledged "
	      "<span class=\"sw warn\"></span>opened to resolved</p>\n", f);
	jv_free(rows);
}

/* The pilot table, with each change coloured by whether it is better. */
static void
pilot_table(FILE *f, jv sec)
{
	jv rows = get(sec, "rows"), note = get(sec, "note");
	static const char *const lower_better[] = {"follow_up_median", "follow_up_p90", "follow_up_median_days",
		"follow_up_sla_missed", "follow_up_sla_missed_pct", "double_mailings", "recovery_avg_min"};

	fputs("<table class=\"pilot\"><thead><tr><th>metric</th><th class=\"r\">baseline</th><th class=\"r\">pilot</th>"
	      "<th class=\"r\">change</th></tr></thead><tbody>\n", f);
	jv_array_foreach(rows, i, row) {
		char metric[64], unit[32];
		const char *label;
		double ch = num(row, 4);
		int dir = 0;

		(void)i;
		str(row, 0, metric, sizeof metric);
		str(row, 1, unit, sizeof unit);
		for (size_t k = 0; k < sizeof lower_better / sizeof lower_better[0]; k++)
			if (strcmp(metric, lower_better[k]) == 0)
				dir = -1;
		if (strcmp(metric, "audit_trail_complete_pct") == 0)
			dir = 1;
		label = fs_report_label(metric);
		fputs("<tr><td>", f);
		esc(f, label);
		/* The unit, unless the label already says it: "Follow-up SLA missed (%)". */
		if (strchr(label, '(') == NULL) {
			fputs(" <small>", f);
			esc(f, unit);
			fputs("</small>", f);
		}
		fputs("</td><td class=\"r\">", f);
		put_value(f, jv_array_get(jv_copy(row), 2), "auto");
		fputs("</td><td class=\"r\">", f);
		put_value(f, jv_array_get(jv_copy(row), 3), "auto");
		fprintf(f, "</td><td class=\"r %s\">", isnan(ch) || ch == 0 || dir == 0 ? "" : ch * dir > 0 ? "good" : "worse");
		if (!isnan(ch) && ch > 0)
			fputs("+", f);
		put_value(f, jv_array_get(jv_copy(row), 4), "auto");
		fputs("</td></tr>\n", f);
		jv_free(row);
	}
	fputs("</tbody></table>\n", f);
	if (jv_get_kind(note) == JV_KIND_STRING) {
		fputs("<p class=\"note\">", f);
		esc(f, jv_string_value(note));
		fputs("</p>\n", f);
	}
	jv_free(rows);
	jv_free(note);
}

static const char css[] =
	":root{--ok:#2e7d32;--warn:#ef8f00;--bad:#c62828;--neutral:#546e7a;--ink:#1c2430;--muted:#66727f;"
	"--line:#dde3ea;--bg:#f3f5f8}"
	"*{box-sizing:border-box}"
	"body{margin:0;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
	"color:var(--ink);background:var(--bg)}"
	"header{background:#1f2a37;color:#fff;padding:14px 24px;display:flex;justify-content:space-between;"
	"align-items:baseline;flex-wrap:wrap;gap:8px}"
	"header h1{font-size:20px;margin:0;font-weight:600}header .meta{color:#c9d3de;font-size:13px}"
	"main{padding:16px 24px;display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}"
	".tiles{grid-column:1/-1;display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}"
	".tile{background:#fff;border-radius:6px;padding:10px 12px;border-left:5px solid var(--neutral);"
	"box-shadow:0 1px 2px rgba(0,0,0,.06)}"
	".tile.ok{border-left-color:var(--ok)}.tile.warn{border-left-color:var(--warn)}"
	".tile.bad{border-left-color:var(--bad)}"
	".tile .k{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}"
	".tile .v{font-size:16px;font-weight:600;margin-top:2px}.tile .v.big{font-size:28px}"
	".tile .v.long{font-size:13px;font-weight:500}"
	".tile .s{font-size:12px;color:var(--muted)}.tile small{font-weight:400;color:var(--muted)}"
	".card{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06);"
	"break-inside:avoid;min-width:0}"
	".card.wide{grid-column:1/-1}"
	".card h2{font-size:15px;margin:0 0 8px;font-weight:600}"
	"table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}"
	"th{text-align:left;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:4px 6px}"
	"td{border-bottom:1px solid var(--line);padding:4px 6px}.r{text-align:right}"
	"td.good{color:var(--ok);font-weight:600}td.worse{color:var(--bad);font-weight:600}"
	".na{color:#aab4be}.empty{color:var(--muted);font-style:italic}.note{color:var(--muted);font-size:12px;margin:6px 0 0}"
	".chart{width:100%;height:auto;display:block}"
	"svg text{font-size:11px;fill:var(--ink)}svg .ax{fill:var(--muted)}svg .lab{font-size:12px}"
	"svg .val{font-size:11px;fill:var(--ink)}svg .grid{stroke:var(--line);stroke-width:1}"
	"svg .ok,.sw.ok{fill:var(--ok);background:var(--ok)}svg .bad,.sw.bad{fill:var(--bad);background:var(--bad)}"
	"svg .warn,.sw.warn{fill:var(--warn);background:var(--warn)}"
	"svg .neutral,.sw.neutral{fill:#90a4ae;background:#90a4ae}svg .idle,.sw.idle{fill:#e4e9ee;background:#e4e9ee}"
	"svg .poll,.sw.poll{fill:#1e88e5;background:#1e88e5}svg .ack,.sw.ack{fill:#ffcc80;background:#ffcc80}"
	".legend{font-size:12px;color:var(--muted);margin:4px 0 0}"
	".sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:middle}"
	".banner{grid-column:1/-1;background:#fff8e1;border:1px solid #ffe082;border-radius:6px;padding:12px 16px}"
	"footer{padding:8px 24px 20px;color:var(--muted);font-size:12px}"
	"@media (max-width:900px){main{grid-template-columns:1fr}}"
	"@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}"
	"header .meta{color:#333}.card,.tile{box-shadow:none;border:1px solid #ccc}"
	"main{grid-template-columns:1fr 1fr}@page{size:A4 landscape;margin:10mm}}";

/* A chart's section: its note, or why it is empty. */
static void
tail_note(FILE *f, jv sec)
{
	jv rows = get(sec, "rows"), why = get(sec, "empty"), note = get(sec, "note");

	if (jv_array_length(jv_copy(rows)) == 0) {
		fputs("<p class=\"empty\">Nothing to show: ", f);
		esc(f, jv_get_kind(why) == JV_KIND_STRING ? jv_string_value(why) : "no rows");
		fputs(".</p>\n", f);
	} else if (jv_get_kind(note) == JV_KIND_STRING) {
		fputs("<p class=\"note\">", f);
		esc(f, jv_string_value(note));
		fputs("</p>\n", f);
	}
	jv_free(rows);
	jv_free(why);
	jv_free(note);
}

/* Is this section drawn specially, and how? */
static void
section_card(FILE *f, jv reps, jv rep, jv sec, const char *rname, const char *tz)
{
	char name[64], title[256];

	sget(sec, "name", name, sizeof name);
	sget(sec, "title", title, sizeof title);
	if (strcmp(rname, "health") == 0 && strcmp(name, "status") == 0)
		return;		/* the tiles at the top */
	if (strcmp(rname, "sla") == 0 && strcmp(name, "speed") == 0) {
		static const char *const cls[] = {"ok"};
		int vi[] = {colidx(sec, "pieces")};

		jv bd = get(rep, "follow_up_bd");

		if (jv_get_kind(bd) == JV_KIND_NUMBER)
			sla_bd = (int)jv_number_value(bd);
		jv_free(bd);
		card_open(f, title, NULL);
		bars(f, sec, 0, vi, cls, 1, NULL, bucket_class);
		fprintf(f, "<p class=\"legend\"><span class=\"sw ok\"></span>within the %d-business-day SLA "
			   "<span class=\"sw bad\"></span>later <span class=\"sw neutral\"></span>no follow-up yet</p>\n",
			sla_bd);
		tail_note(f, sec);
	} else if (strcmp(rname, "sla") == 0 && strcmp(name, "misses") == 0) {
		static const char *const cls[] = {"ok", "bad", "neutral"};
		static const char *const legend[] = {"met", "missed", "still inside the SLA"};
		int vi[] = {colidx(sec, "met"), colidx(sec, "missed"), colidx(sec, "open")};

		card_open(f, "Follow-up SLA misses over time, by delivery day", NULL);
		bars(f, sec, 0, vi, cls, 3, legend, NULL);
		tail_note(f, sec);
	} else if (strcmp(rname, "sla") == 0 && strcmp(name, "mail_status") == 0) {
		card_open(f, "Mail status funnel", NULL);
		funnel(f, sec);
		tail_note(f, sec);
	} else if (strcmp(rname, "health") == 0 && strcmp(name, "timeline") == 0) {
		card_open(f, "Webhook health timeline", "wide");
		timeline(f, reps, rep, tz);
	} else if (strcmp(rname, "health") == 0 && strcmp(name, "incidents") == 0) {
		card_open(f, "Recovery times", NULL);
		recovery(f, sec);
		fputs("</section>\n", f);
		card_open(f, "Incidents: detected, acknowledged, resolved", "wide");
		table(f, jv_copy(sec));
	} else if (strcmp(rname, "pilot") == 0 && strcmp(name, "pilot") == 0) {
		card_open(f, "Pilot: before and after", NULL);
		pilot_table(f, sec);
	} else {
		jv cols = get(sec, "columns");
		bool wide = jv_array_length(jv_copy(cols)) > 6;

		jv_free(cols);
		card_open(f, title, wide ? "wide" : NULL);
		table(f, jv_copy(sec));
	}
	fputs("</section>\n", f);
}

int
fs_report_html(jv reps, const char *tz, FILE *f)
{
	jv main_rep = jv_array_get(jv_copy(reps), 0);
	char rname[32], title[128], from[32], to[32], gen[32], why[512], win[FS_REPORT_WINDOW], when[FS_REPORT_WHEN];
	fs_time now = fs_now();

	sget(main_rep, "report", rname, sizeof rname);
	sget(main_rep, "title", title, sizeof title);
	sget(main_rep, "from", from, sizeof from);
	sget(main_rep, "to", to, sizeof to);
	sget(main_rep, "generated_at", gen, sizeof gen);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<meta name=\"color-scheme\" content=\"light\"><title>fieldsync: ", f);
	esc(f, title);
	fprintf(f, "</title><style>%s</style></head>\n<body>\n<header><h1>fieldsync &middot; ", css);
	esc(f, strcmp(rname, "sla") == 0 ? "Follow-up SLA dashboard" : title);
	fprintf(f, "</h1><div class=\"meta\">%s &middot; generated %s%s</div></header>\n<main>\n",
		fs_report_window(from, to, win), fs_report_when(gen, when), strlen(gen) == 20 ? " UTC" : "");
	health_panel(f, reps, now);
	if (sget(main_rep, "empty", why, sizeof why)) {
		fputs("<div class=\"banner\"><strong>Nothing to report yet.</strong> ", f);
		esc(f, why);
		fputs(".</div>\n", f);
	} else {
		if (strcmp(rname, "sla") == 0)
			kpis(f, reps);
		/* A manager's order: speed and misses, funnel and pilot, health over time, then detail. */
		static const char *const order[] = {"sla.speed", "sla.misses", "sla.mail_status", "pilot.pilot",
			"health.timeline", "health.summary", "health.incidents", "sla.followup", "sla.vendor_sla",
			"dedupe.weekly", "dedupe.scans", "health.fallbacks", NULL};
		int norder = sizeof order / sizeof order[0];

		for (int pass = 0; pass < norder; pass++)
			jv_array_foreach(reps, i, rep) {
				char rn[32], sn[64], key[128];
				jv secs = get(rep, "sections");

				(void)i;
				sget(rep, "report", rn, sizeof rn);
				/* The companions add their sections unless they are empty themselves. */
				if (jv_get_kind(secs) == JV_KIND_ARRAY && !sget(rep, "empty", why, sizeof why))
					jv_array_foreach(secs, j, sec) {
						bool listed = false;

						(void)j;
						sget(sec, "name", sn, sizeof sn);
						snprintf(key, sizeof key, "%s.%s", rn, sn);
						for (int k = 0; order[k]; k++)
							listed |= strcmp(order[k], key) == 0;
						/* Listed ones in their pass; the rest in the last. */
						if (order[pass] ? strcmp(order[pass], key) == 0 : !listed)
							section_card(f, reps, rep, sec, rn, tz);
						jv_free(sec);
					}
				jv_free(secs);
				jv_free(rep);
			}
	}
	if (fs_tz_is_utc(tz))
		fputs("</main>\n<footer>Times are UTC.", f);
	else {
		fputs("</main>\n<footer>Times are in ", f);
		esc(f, tz);
		fputs(", each with its offset from UTC; days and business days follow its calendar.", f);
	}
	fputs(" Business days skip weekends and the configured holidays. "
	      "Made by fs-report; no scripts, nothing fetched: safe to keep open, mail or print.</footer>\n"
	      "</body></html>\n", f);
	jv_free(main_rep);
	jv_free(reps);
	return ferror(f) ? -1 : 0;
}
