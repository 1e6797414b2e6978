# HubSpot CRM v3 contact -> contact.changed.
# status comes from lifecyclestage unless the source sets status_property;
# do_not_mail is true when the source's suppress_property holds true (or yes,
# or 1, in any case); a missing country defaults to the source's
# default_country (default US).
# reads: data.id data.properties.email data.properties.firstname data.properties.lastname
# reads: data.properties.phone data.properties.company data.properties.address
# reads: ?data.properties.address2 data.properties.city data.properties.state data.properties.zip
# reads: data.properties.country data.properties.lifecyclestage data.properties.hubspot_owner_id
# reads: data.properties.lastmodifieddate ?data.properties.hs_object_id ?data.properties.createdate
# reads: ?data.updatedAt ?data.createdAt ?data.archived ?data.properties.hs_lastmodifieddate
def hs_true: if type == "boolean" then . else fs_clean | type == "string" and
  (ascii_downcase | . == "true" or . == "yes" or . == "1") end;
.data as $d
| ($d.properties // {}) as $p
| (($p.country | fs_country) // (if ($p.address // $p.city // $p.zip) != null
                                   then ($source.default_country // "US") else null end)) as $country
| ($d.updatedAt // $p.lastmodifieddate // $p.hs_lastmodifieddate | fs_time) as $version
| {
    kind: "contact.changed",
    object: "contact:\($d.id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.id | tostring),
      email: ($p.email | fs_email),
      phone: ($p.phone | fs_e164($country)),
      first_name: ($p.firstname | fs_clean),
      last_name: ($p.lastname | fs_clean),
      company: ($p.company | fs_clean),
      address: ({
        line1: ($p.address | fs_clean),
        line2: ($p.address2 | fs_clean),
        city: ($p.city | fs_clean),
        region: (if $country == "US" then ($p.state | fs_us_region) else ($p.state | fs_clean) end),
        postal_code: ($p.zip | fs_zip($country)),
        country: $country
      } | fs_nonnull | if . == {} then null else . end),
      status: ($p[$source.status_property // "lifecyclestage"] | fs_clean),
      owner: ($p.hubspot_owner_id | fs_clean),
      do_not_mail: (if $source.suppress_property != null and ($p[$source.suppress_property] | hs_true)
                    then true else null end),
      updated_at: $version
    } | fs_nonnull)
  }
