/* Campaign settings every command reads alike ([campaign "NAME"]). */
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
		int64_t secs;

		if (strcmp(cfg->sec[i].type, "campaign") == 0 && fs_campaign_active(cfg, cfg->sec[i].name, &secs) != 0)
			return -1;
	}
	return 0;
}
