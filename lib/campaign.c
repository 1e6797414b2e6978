/* Campaign settings every command reads alike ([campaign "NAME"]). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

const char *
fs_campaign_goal(const struct fs_config *cfg, jv data)
{
	const char *goal = fs_jstr(data, "goal"), *campaign = fs_jstr(data, "campaign");

	if (goal && *goal)
		return goal;
	return campaign ? fs_config_setting(cfg, "campaign", campaign, "goal") : NULL;
}

int
fs_campaign_active(const struct fs_config *cfg, const char *campaign, int64_t *secs)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "active");

	if (fs_duration_parse(v, secs) != 0) {
		fs_err("campaign '%s': malformed duration '%s' for 'active' (want e.g. 30d)", campaign, v);
		return -1;
	}
	return 0;
}

int
fs_campaigns_check(const struct fs_config *cfg)
{
	for (int i = 0; i < cfg->nsec; i++) {
		const char *name = cfg->sec[i].name;
		int64_t secs;
		long n;

		if (strcmp(cfg->sec[i].type, "campaign") != 0)
			continue;
		if (fs_campaign_active(cfg, name, &secs) != 0 || fs_campaign_reentry(cfg, name, &secs) != 0 ||
		    fs_campaign_cap(cfg, name, &n) != 0 || fs_campaign_send_delay(cfg, name, &secs) != 0)
			return -1;
	}
	return 0;
}

int
fs_campaign_reentry(const struct fs_config *cfg, const char *campaign, int64_t *secs)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "reentry");

	*secs = -1;
	if (strcmp(v, "never") == 0)
		return 0;
	if (fs_duration_parse(v, secs) != 0 || *secs < 0) {
		fs_err("campaign '%s': 'reentry' must be never or a duration (as 365d), not '%s'", campaign, v);
		return -1;
	}
	return 0;
}

int
fs_campaign_cap(const struct fs_config *cfg, const char *campaign, long *n)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "cap");
	char *end;

	*n = 0;
	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	*n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *n <= 0 || *n > 1000000 || strcmp(fs_trim(end), "/day") != 0) {
		fs_err("campaign '%s': 'cap' must be N/day (as 50/day), N from 1 to 1000000, not '%s'", campaign, v);
		*n = 0;
		return -1;
	}
	return 0;
}

int
fs_campaign_send_delay(const struct fs_config *cfg, const char *campaign, int64_t *secs)
{
	const char *v = fs_config_setting(cfg, "campaign", campaign, "send_delay");

	*secs = 0;
	if (v == NULL || *v == '\0')
		return 0;
	if (fs_duration_parse(v, secs) != 0 || *secs < 0 || *secs > 180 * 86400) {
		fs_err("campaign '%s': 'send_delay' must be a duration up to 180d (Lob's limit), not '%s'", campaign, v);
		return -1;
	}
	return 0;
}
