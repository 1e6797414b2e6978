/*
 * fs-normalize's machinery, which knows no vendor: the maps of sources'
 * streams and the drift between a map and its records, the fields a
 * campaign's conditions read, canonical events and mail requests, the check
 * of triggers against what sources give (each connector names its own
 * fields), and the hot path's scanned records and contacts, written as jq
 * writes JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "vendors.h"

/* ---- maps and drift ---- */

/* The stream of a record with none: its connector's, else events (a kind with no connector). */
static const char *
default_stream(const struct fs_vendor *v)
{
	return v && v->saved_stream ? v->saved_stream : "events";
}

/* The connector that does map in C for the hot path, or NULL. */
static const struct fs_vendor *
fast_vendor(const struct fs_map *map)
{
	const char *builtin = fs_map_builtin(map);
	const struct fs_vendor *v;

	for (int i = 0; builtin && (v = fs_vendor_at(i)) != NULL; i++)
		if (v->fast_map && v->fast_contact && strcmp(v->fast_map, builtin) == 0)
			return v;
	return NULL;
}

void
fs_norm_map_load(struct fs_norm_map *e, const struct fs_config *cfg, const char *source, const char *stream,
		 const char *map_opt)
{
	struct fs_endpoint ep;
	const struct fs_vendor *v;
	char *path = NULL, key[128];
	const char *name;

	memset(e, 0, sizeof *e);
	e->source = fs_xstrdup(source);
	e->stream = fs_xstrdup(stream ? stream : "");
	/* fs_endpoint_find complains on stderr; the DLQ reason says it again. */
	if (fs_endpoint_find(cfg, "source", source, &ep) != 0) {
		e->why = fs_xasprintf("unknown source \"%s\"", source);
		return;
	}
	v = e->vendor = fs_vendor_find(ep.kind);
	if (stream == NULL)
		stream = default_stream(v);
	/* map.STREAM, else map, else the kind's shipped map for the stream
	 * (map.* for a stream of no name: the shipped map for other streams). */
	snprintf(key, sizeof key, "map.%s", *stream ? stream : "*");
	if ((name = map_opt) == NULL)
		name = fs_setting(&ep, key);
	if ((path = fs_map_find(name)) == NULL) {
		e->why = fs_xasprintf("no map '%s' for source \"%s\" stream \"%s\"", name, source, stream);
		return;
	}
	if ((e->map = fs_map_load(path, fs_map_args(&ep))) == NULL) {
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
		if (v && v->map_reads)
			v->map_reads(&ep, stream, &e->reads);
		e->fast = nreads > 0 ? fast_vendor(e->map) : NULL;
	}
	free(path);
}

void
fs_norm_map_free(struct fs_norm_map *m)
{
	fs_map_free(m->map);
	fs_counts_free(&m->reads);
	free(m->need);
	free(m->source);
	free(m->stream);
	free(m->why);
}

bool
fs_drift_covered(struct fs_counts *reads, const char *path)
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
	if (!fs_drift_covered(reads, path->data)) {
		(*fs_counts_at(found, path->data, path->len, true))++;
		(*nfound)++;
	}
}

int
fs_drift_count(struct fs_drift *d, struct fs_norm_map *me, jv record, struct fs_buf *why)
{
	struct fs_counts unmapped = {0};
	struct fs_buf path = {0};
	int count = 0;

	for (int i = 0; i < me->nneed; i++) {
		const char *p = me->need[i];
		jv v = fs_jget_path(record, p);

		if (!jv_is_valid(v)) {
			(*fs_counts_at(&d->absent, p, strlen(p), true))++;
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
				(*fs_counts_at(&d->unmapped, unmapped.e[i].key, strlen(unmapped.e[i].key), true))++;
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

/* The keys of m, sorted; *len of them. */
static char **
sorted_keys(const struct fs_counts *m, size_t *len)
{
	char **keys = fs_xmalloc((m->len + 1) * sizeof *keys);
	size_t k = 0;

	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].key)
			keys[k++] = m->e[i].key;
	qsort(keys, k, sizeof *keys, by_key);
	*len = k;
	return keys;
}

void
fs_drift_report(struct fs_drift *d)
{
	struct fs_counts *sets[] = {&d->unmapped, &d->absent};
	const char *what[] = {"field \"%s\" is not read by the map (%ld records)",
			      "map path \"%s\" is absent (%ld records)"};

	if (d->unmapped.len == 0 && d->absent.len == 0)
		return;
	fs_debug("drift: %zu unmapped field%s, %zu absent map path%s", d->unmapped.len,
		 d->unmapped.len == 1 ? "" : "s", d->absent.len, d->absent.len == 1 ? "" : "s");
	for (int k = 0; k < 2 && fs_verbosity >= 2; k++) {
		size_t m;
		char **keys = sorted_keys(sets[k], &m);

		for (size_t i = 0; i < m; i++)
			fs_debug(what[k], keys[i], *fs_counts_at(sets[k], keys[i], strlen(keys[i]), false));
		free(keys);
	}
}

void
fs_drift_free(struct fs_drift *d)
{
	fs_counts_free(&d->unmapped);
	fs_counts_free(&d->absent);
}

jv
fs_counts_json(struct fs_counts *m)
{
	size_t k;
	char **keys = sorted_keys(m, &k);
	jv o = jv_object();

	for (size_t i = 0; i < k; i++)
		o = jv_object_set(o, jv_string(keys[i]),
				  jv_number((double)*fs_counts_at(m, keys[i], strlen(keys[i]), false)));
	free(keys);
	return o;
}

/* ---- the fields campaigns read ---- */

static bool
address_field(const char *name)
{
	static const char *const a[] = {"line1", "line2", "city", "region", "postal_code", "country", NULL};

	for (int i = 0; a[i]; i++)
		if (strcmp(name, a[i]) == 0)
			return true;
	return false;
}

/* The values of name in obj (a contact's or a job's data): 0 when absent, borrowed. */
static int
jv_values(struct fs_fields *f, jv obj, jv address, const char *name)
{
	jv v = address_field(name) ? fs_jget(address, name) : fs_jget(obj, name);
	int n = 0;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		f->list[n++] = jv_string_value(v);	/* obj holds it */
	} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
		snprintf(f->num, sizeof f->num, "%.17g", jv_number_value(v));
		f->list[n++] = f->num;
	} else if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv_array_foreach(v, i, e) {
			if (jv_get_kind(e) == JV_KIND_STRING && n < (int)(sizeof f->list / sizeof f->list[0]))
				f->list[n++] = jv_string_value(e);	/* obj holds it */
			(void)i;
			jv_free(e);
		}
	}
	jv_free(v);
	return n;
}

int
fs_fields_values(struct fs_fields *f, const char *name)
{
	jv address;
	int n;

	if (f->cs) {
		for (int i = 0; i < FS_C_N; i++)
			if (strcmp(fs_contact_fields[i], name) == 0 && f->cs[i]) {
				f->list[0] = f->cs[i];
				return 1;
			}
		return 0;
	}
	if (strncmp(name, "contact.", 8) == 0) {
		address = fs_jget(f->contact, "address");
		n = jv_values(f, f->contact, address, name + 8);
	} else {
		address = jv_get_kind(f->to) == JV_KIND_OBJECT ? jv_copy(f->to) : fs_jget(f->data, "address");
		n = jv_values(f, f->data, address, name);
	}
	jv_free(address);
	return n;
}

bool
fs_filters_pass(const struct fs_campaign *c, struct fs_fields *f)
{
	for (int i = 0; i < c->nonly; i++) {
		int n = fs_fields_values(f, c->only[i].field);

		if (!fs_cond_holds(&c->only[i], f->list, n))
			return false;
	}
	for (int i = 0; i < c->nexcept; i++) {
		int n = fs_fields_values(f, c->except[i].field);

		if (fs_cond_holds(&c->except[i], f->list, n))
			return false;
	}
	return true;
}

jv
fs_mailing_address(jv contact, jv address)
{
	jv to = jv_object();
	const char *first = fs_jstr(contact, "first_name"), *last = fs_jstr(contact, "last_name");
	const char *company = fs_jstr(contact, "company");
	static const char *const keys[] = {"line1", "line2", "city", "region", "postal_code", "country", NULL};

	if (first || last)
		to = jv_object_set(to, jv_string("name"), jv_string_fmt("%s%s%s", first ? first : "",
			first && last ? " " : "", last ? last : ""));
	else if (company)
		to = jv_object_set(to, jv_string("name"), jv_string(company));
	for (int i = 0; keys[i]; i++) {
		const char *v = fs_jstr(address, keys[i]);

		if (v)
			to = jv_object_set(to, jv_string(keys[i]), jv_string(v));
	}
	return to;
}

/*
 * Checking triggers against what the sources give (fieldsync(7), "Checking
 * a campaign"): fs-pull --describe SOURCE stores each source's fields, with
 * the values of those that have a fixed set (a CRM's lifecycle stage); a
 * trigger on a field a source does not have, or on a value it never gives,
 * is a config error when no source gives it.  Without a listing the check
 * cannot be made: that is said once (the campaigns table keeps what was
 * said), and with -v on every run.
 */

/* ---- events ---- */

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

jv
fs_event_make(const char *run_id, const char *source, const char *kind, const char *object, const char *version,
	      jv occurred_at, jv data, jv raw)
{
	char id[40];
	jv ev = jv_object();

	fs_event_id(source, object, kind, version, id);
	ev = jv_object_set(ev, jv_string("type"), jv_string("event"));
	ev = jv_object_set(ev, jv_string("id"), jv_string(id));
	ev = jv_object_set(ev, jv_string("run_id"), jv_string(run_id));
	ev = jv_object_set(ev, jv_string("source"), jv_string(source));
	ev = jv_object_set(ev, jv_string("kind"), jv_string(kind));
	ev = jv_object_set(ev, jv_string("object"), object ? jv_string(object) : jv_null());
	ev = jv_object_set(ev, jv_string("occurred_at"), occurred_at);
	ev = canonical_time(ev, "occurred_at");
	data = canonical_time(canonical_time(data, "updated_at"), "at");
	ev = jv_object_set(ev, jv_string("data"), data);
	if (jv_is_valid(raw))
		ev = jv_object_set(ev, jv_string("raw"), raw);
	else
		jv_free(raw);
	return ev;
}

jv
fs_mail_request_data(const struct fs_campaign *c, jv contact, jv job, jv to, const char *from, const char *value)
{
	jv req = jv_object(), trig = jv_object(), dnm = fs_jget(contact, "do_not_mail");

	trig = jv_object_set(trig, jv_string("field"), jv_string(c->trigger.field));
	trig = jv_object_set(trig, jv_string("from"), from ? jv_string(from) : jv_null());
	trig = jv_object_set(trig, jv_string("to"), jv_string(value));
	req = jv_object_set(req, jv_string("contact_id"),
			    jv_string(fs_jstr(job, "contact_id") ? fs_jstr(job, "contact_id") : fs_jstr(contact, "id")));
	if (jv_get_kind(job) == JV_KIND_OBJECT)
		req = jv_object_set(req, jv_string("job_id"), jv_string(fs_jstr(job, "id")));
	req = jv_object_set(req, jv_string("campaign"), jv_string(c->name));
	req = jv_object_set(req, jv_string("goal"), jv_string(c->goal));
	req = jv_object_set(req, jv_string("format"), jv_string(c->format));
	if (c->template)
		req = jv_object_set(req, jv_string("template"), jv_string(c->template));
	if (c->back)
		req = jv_object_set(req, jv_string("back"), jv_string(c->back));
	if (c->from)
		req = jv_object_set(req, jv_string("from"), jv_string(c->from));
	req = jv_object_set(req, jv_string("to"), jv_copy(to));
	req = jv_object_set(req, jv_string("trigger"), trig);
	if (jv_get_kind(dnm) == JV_KIND_TRUE)
		req = jv_object_set(req, jv_string("do_not_mail"), jv_true());
	jv_free(dnm);
	return req;
}

/* ---- checking triggers ---- */

/* A connector whose sources give contacts and jobs, which campaigns trigger on; NULL if not. */
static const struct fs_vendor *
trigger_vendor(const char *kind)
{
	const struct fs_vendor *v = fs_vendor_find(kind);

	return v && v->trigger_property ? v : NULL;
}

/* The sources a campaign's events may come from: the config's that give contacts and jobs. */
static int
sources_of(const struct fs_config *cfg, struct fs_endpoint *out, int max)
{
	int n = 0;

	for (int i = 0; i < cfg->nsec && n < max; i++)
		if (strcmp(cfg->sec[i].type, "source") == 0 &&
		    fs_endpoint_find(cfg, "source", cfg->sec[i].name, &out[n]) == 0 && trigger_vendor(out[n].kind))
			n++;
	return n;
}

/*
 * One source's word on campaign c: 1 it gives the trigger's field and
 * values, 0 it does not (why in *why), -1 no listing, -2 a state error.
 */
static int
source_gives(struct fs_cli *cli, const struct fs_campaign *c, const struct fs_endpoint *ep, struct fs_buf *why)
{
	const struct fs_vendor *v = trigger_vendor(ep->kind);
	const char *object = c->on_job ? v->jobs_object : "contacts";
	const char *field = c->trigger.field, *prop = v->trigger_property(ep, c->on_job, field);
	bool hint = !c->on_job && strcmp(field, "status") == 0 && v->status_setting;
	jv fields, found = jv_invalid(), options;
	char *at = NULL;
	struct fs_buf missing = {0}, list = {0};
	int rc;

	if (fs_source_fields_get(&cli->st, ep->name, object, &fields, &at) != 0)
		return -2;
	if (jv_get_kind(fields) == JV_KIND_NULL) {
		free(at);
		return -1;
	}
	jv_array_foreach(fields, i, f) {
		(void)i;
		if (prop && !jv_is_valid(found) && fs_jstr(f, "name") && strcmp(fs_jstr(f, "name"), prop) == 0)
			found = jv_copy(f);
		jv_free(f);
	}
	jv_free(fields);
	if (!jv_is_valid(found)) {
		if (prop == NULL)
			fs_buf_addf(why, "source '%s' gives no '%s'", ep->name, field);
		else if (strcmp(prop, field) == 0)
			fs_buf_addf(why, "source '%s' gives no '%s' (fs-pull --describe %s, %s)", ep->name, field,
				    ep->name, at);
		else
			fs_buf_addf(why, "source '%s' has no %s property '%s' for '%s' (fs-pull --describe %s, %s)",
				    ep->name, object, prop, field, ep->name, at);
		free(at);
		return 0;
	}
	options = fs_jget(found, "options");
	rc = 1;
	if (jv_get_kind(options) == JV_KIND_ARRAY && jv_array_length(jv_copy(options)) > 0) {
		for (int k = 0; k < c->trigger.nvalues; k++) {
			bool has = false;

			jv_array_foreach(options, i, o) {
				(void)i;
				has = has || (jv_get_kind(o) == JV_KIND_STRING &&
					      strcmp(jv_string_value(o), c->trigger.values[k]) == 0);
				jv_free(o);
			}
			if (!has)
				fs_buf_addf(&missing, "%s'%s'", missing.len ? ", " : "", c->trigger.values[k]);
		}
		if (missing.len) {
			jv_array_foreach(options, i, o) {
				if (jv_get_kind(o) == JV_KIND_STRING)
					fs_buf_addf(&list, "%s%s", i ? ", " : "", jv_string_value(o));
				jv_free(o);
			}
			if (strcmp(prop, field) == 0)
				fs_buf_addf(why, "source '%s' gives no %s %s: it gives %s (fs-pull --describe %s, %s)",
					    ep->name, field, missing.data, list.data, ep->name, at);
			else
				fs_buf_addf(why, "source '%s' gives no %s %s: its %s comes from '%s', which has %s"
					    " (fs-pull --describe %s, %s)%s%s%s", ep->name, field, missing.data, field, prop,
					    list.data, ep->name, at, hint ? "; set " : "", hint ? v->status_setting : "",
					    hint ? " to the property that has it" : "");
			rc = 0;
		}
	}
	fs_buf_free(&missing);
	fs_buf_free(&list);
	jv_free(options);
	jv_free(found);
	free(at);
	return rc;
}

int
fs_campaigns_check_sources(struct fs_cli *cli, const struct fs_campaign *campaigns, int ncampaigns)
{
	struct fs_endpoint src[32];
	int nsrc = sources_of(&cli->cfg, src, 32), errors = 0;

	if (nsrc == 0) {
		/* No source in the config: the built-in kinds a bare pipeline uses,
		 * those described, else all (to say that none is). */
		const struct fs_vendor *v;

		for (int k = 0; (v = fs_vendor_at(k)) != NULL; k++) {
			jv a = jv_null(), b = jv_null();
			char *at = NULL, *at2 = NULL;

			if (!v->trigger_property)
				continue;
			if (fs_source_fields_get(&cli->st, v->kind, "contacts", &a, &at) != 0 ||
			    fs_source_fields_get(&cli->st, v->kind, v->jobs_object, &b, &at2) != 0) {
				jv_free(a);
				free(at);
				return FS_EXIT_STATE;
			}
			if (jv_get_kind(a) != JV_KIND_NULL || jv_get_kind(b) != JV_KIND_NULL)
				fs_endpoint_find(&cli->cfg, "source", v->kind, &src[nsrc++]);
			jv_free(a), jv_free(b), free(at), free(at2);
		}
		for (int k = 0, described = nsrc; described == 0 && (v = fs_vendor_at(k)) != NULL; k++)
			if (v->trigger_property)
				fs_endpoint_find(&cli->cfg, "source", v->kind, &src[nsrc++]);
	}
	for (int i = 0; i < ncampaigns; i++) {
		const struct fs_campaign *c = &campaigns[i];
		struct fs_buf why = {0}, unchecked = {0};
		char *notice = NULL;
		int gives = 0, said;

		int rcs[32], nunchecked = 0;

		for (int k = 0; k < nsrc; k++) {
			size_t mark = why.len;

			if ((rcs[k] = source_gives(cli, c, &src[k], &why)) == -2) {
				fs_buf_free(&why);
				fs_buf_free(&unchecked);
				return FS_EXIT_STATE;
			}
			if (rcs[k] == 0 && why.len > mark)
				fs_buf_adds(&why, "; ");
			gives += rcs[k] == 1;
			nunchecked += rcs[k] == -1;
		}
		/* "'a', 'b' or 'c'" */
		for (int k = 0, m = 0; k < nsrc; k++)
			if (rcs[k] == -1) {
				m++;
				fs_buf_addf(&unchecked, "%s'%s'", m == 1 ? "" : m == nunchecked ? " or " : ", ",
					    src[k].name);
			}
		if (gives == 0 && unchecked.len == 0) {
			why.len -= 2;	/* the last "; " */
			why.data[why.len] = '\0';
			fs_err("%s:%d: campaign '%s': trigger: %s", cli->cfg.path ? cli->cfg.path : "config",
			       c->line, c->name, why.data);
			errors++;
		} else if (gives == 0) {
			notice = fs_xasprintf("campaign '%s': its trigger is not checked: no fs-pull --describe"
					      " listing of source %s (said once; see fieldsync(7), \"Checking a"
					      " campaign\")", c->name, unchecked.data);
		}
		fs_buf_free(&why);
		fs_buf_free(&unchecked);
		if (errors)
			continue;
		if (notice)
			fs_debug("%s", notice);
		if ((said = fs_campaign_notice(&cli->st, c->name, notice, cli->run_id)) < 0) {
			free(notice);
			return FS_EXIT_STATE;
		}
		if (said > 0 && fs_verbosity < 2)
			fs_info("%s", notice);
		free(notice);
	}
	return errors ? FS_EXIT_USAGE : 0;
}

/* ---- the hot path: JSON as jq writes it, scanned records, contacts as strings ---- */

void
fs_put_json(struct fs_buf *b, const char *p, size_t n)
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

void
fs_put_member(struct fs_buf *b, bool *first, const char *key, const char *value)
{
	if (!*first)
		fs_buf_addc(b, ',');
	*first = false;
	fs_put_json(b, key, strlen(key));
	fs_buf_addc(b, ':');
	if (value)
		fs_put_json(b, value, strlen(value));
	else
		fs_buf_add(b, "null", 4);
}

bool
fs_jscan_copy(const struct fs_jtree *t, int i, char *buf, size_t size)
{
	if (i < 0 || t->n[i].kind != 's' || t->n[i].str.n == 0 || t->n[i].str.n >= size)
		return false;
	memcpy(buf, t->n[i].str.p, t->n[i].str.n);
	buf[t->n[i].str.n] = '\0';
	return true;
}

bool
fs_jscan_present(const struct fs_jtree *t, int root, int data, const char *path)
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

/* leaf_paths on the scanned tree, from node i. */
static bool
scanned_leaves(struct fs_scan_unmapped *f, const struct fs_jtree *t, struct fs_counts *reads, int i)
{
	if (t->n[i].kind == 'o' && t->n[i].child >= 0) {
		for (int k = t->n[i].child; k >= 0; k = t->n[k].next) {
			size_t mark = f->path.len;
			bool ok;

			fs_buf_addc(&f->path, '.');
			fs_buf_add(&f->path, t->n[k].key.p, t->n[k].key.n);
			ok = scanned_leaves(f, t, reads, k);
			f->path.len = mark;
			f->path.data[mark] = '\0';
			if (!ok)
				return false;
		}
		return true;
	}
	if (fs_drift_covered(reads, f->path.data))
		return true;
	for (int j = 0; j < f->n; j++)
		if (strcmp(f->paths[j], f->path.data) == 0)
			return true;
	if (f->n == (int)(sizeof f->paths / sizeof f->paths[0]))
		return false;
	f->paths[f->n++] = fs_xstrdup(f->path.data);
	return true;
}

void
fs_scan_unmapped_clear(struct fs_scan_unmapped *f)
{
	for (int j = 0; j < f->n; j++)
		free(f->paths[j]);
	f->n = 0;
}

bool
fs_drift_scanned(struct fs_drift *d, struct fs_scan_unmapped *u, struct fs_norm_map *m, const struct fs_jtree *t,
		 int root, int data, bool strict)
{
	int absent = 0;

	fs_scan_unmapped_clear(u);
	u->path.len = 0;
	fs_buf_adds(&u->path, "data");
	if (!scanned_leaves(u, t, &m->reads, data)) {
		fs_scan_unmapped_clear(u);
		return false;
	}
	for (int i = 0; i < m->nneed; i++)
		absent += !fs_jscan_present(t, root, data, m->need[i]);
	if (strict && absent + u->n > 0) {
		fs_scan_unmapped_clear(u);
		return false;
	}
	for (int i = 0; i < m->nneed && absent; i++)
		if (!fs_jscan_present(t, root, data, m->need[i]))
			(*fs_counts_at(&d->absent, m->need[i], strlen(m->need[i]), true))++;
	for (int j = 0; j < u->n; j++)
		(*fs_counts_at(&d->unmapped, u->paths[j], strlen(u->paths[j]), true))++;
	fs_scan_unmapped_clear(u);
	return true;
}

const char *
fs_contact_field(char *const cs[], const char *name)
{
	struct fs_fields f = {.cs = cs};

	return fs_fields_values(&f, name) == 1 ? f.list[0] : NULL;
}

bool
fs_contact_row_valid(char *const cs[])
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

bool
fs_contact_row_mailable(const struct fs_campaign *c, char *const cs[])
{
	const char *country = cs[FS_C_COUNTRY];

	return *c->name && *c->goal && (cs[FS_C_FIRST_NAME] || cs[FS_C_LAST_NAME] || cs[FS_C_COMPANY]) &&
	       cs[FS_C_LINE1] && cs[FS_C_CITY] && cs[FS_C_POSTAL_CODE] && country &&
	       (cs[FS_C_REGION] || strcmp(country, "US") != 0);
}

void
fs_put_address(struct fs_buf *b, char *const cs[], const char *name)
{
	bool first = true;

	fs_buf_addc(b, '{');
	if (name)
		fs_put_member(b, &first, "name", name);
	for (int i = FS_C_LINE1; i <= FS_C_COUNTRY; i++)
		if (cs[i])
			fs_put_member(b, &first, fs_contact_fields[i], cs[i]);
	fs_buf_addc(b, '}');
}

int
fs_jscan_record(const struct fs_jtree *t, int root, const char *source_opt, char *source, size_t source_size,
		char *stream, size_t stream_size)
{
	int type = fs_jscan_get(t, root, "type"), s, data;

	*stream = '\0';
	if (type < 0) {
		if (source_opt == NULL || strlen(source_opt) >= source_size)
			return -1;
		strcpy(source, source_opt);
		return root;
	}
	s = fs_jscan_get(t, root, "stream");
	if (t->n[type].kind != 's' || t->n[type].str.n != 6 || memcmp(t->n[type].str.p, "record", 6) != 0 ||
	    !fs_jscan_copy(t, fs_jscan_get(t, root, "source"), source, source_size))
		return -1;
	if (s >= 0 && t->n[s].kind != 'z' && !fs_jscan_copy(t, s, stream, stream_size))
		return -1;
	if ((data = fs_jscan_get(t, root, "data")) < 0 || t->n[data].kind != 'o')
		return -1;
	return data;
}

bool
fs_contact_strings(const struct fs_contact_out *o, struct fs_buf *text, char *cs[FS_C_N], char canon[21],
		   char **object, char **version)
{
	size_t need = FS_C_N + 16;
	fs_time when;

	for (int i = 0; i < FS_C_N; i++)
		need += o->f[i].p ? o->f[i].n : 0;
	need += o->version.n + 1 + 8 + o->f[FS_C_ID].n;
	if (text->cap < need) {
		text->data = fs_xrealloc(text->data, need);
		text->cap = need;
	}
	text->len = 0;
	for (int i = 0; i < FS_C_N; i++) {
		cs[i] = NULL;
		if (o->f[i].p) {
			cs[i] = memcpy(text->data + text->len, o->f[i].p, o->f[i].n);
			cs[i][o->f[i].n] = '\0';
			text->len += o->f[i].n + 1;
		}
	}
	*version = memcpy(text->data + text->len, o->version.p, o->version.n);
	(*version)[o->version.n] = '\0';
	text->len += o->version.n + 1;
	if (fs_time_parse(*version, &when) != 0)
		return false;
	fs_time_format(when, canon);
	cs[FS_C_UPDATED_AT] = canon;
	*object = text->data + text->len;
	memcpy(*object, "contact:", 8);
	memcpy(*object + 8, cs[FS_C_ID], o->f[FS_C_ID].n + 1);
	return true;
}

void
fs_put_contact(struct fs_buf *b, char *const cs[], bool do_not_mail)
{
	bool comma = true;

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
				fs_put_address(b, cs, NULL);
			}
		} else {
			if (i == FS_C_UPDATED_AT && do_not_mail)
				fs_buf_adds(b, ",\"do_not_mail\":true");
			if (cs[i])
				fs_put_member(b, &comma, fs_contact_fields[i], cs[i]);
		}
	}
	fs_buf_add(b, "}}", 2);
}
