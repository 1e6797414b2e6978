# Jobber client (GraphQL Client, as fs-pull jobber reads it) -> contact.changed.
# The e-mail and phone are the primary ones, else the first; the address is
# the billing address (a client's service addresses are its properties,
# which fs-pull does not read).  status is lead, archived or active, from
# isLead and isArchived; a missing country defaults to the source's
# default_country (default US).  The version is updatedAt.
# reads: data.id data.updatedAt ?data.firstName ?data.lastName ?data.companyName ?data.isCompany
# reads: ?data.isArchived ?data.isLead ?data.emails ?data.phones ?data.billingAddress ?data.createdAt
def jb_primary(f): (map(select(.primary == true)) + .)[0] // {} | f;
.data as $d
| ($d.billingAddress // {}) as $a
| (($a.country | fs_country) // (if ($a.street1 // $a.city // $a.postalCode | fs_clean) != null
                                   then ($source.default_country // "US") else null end)) as $country
| ($d.updatedAt | fs_time) as $version
| {
    kind: "contact.changed",
    object: "contact:\($d.id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.id | tostring),
      email: ($d.emails // [] | jb_primary(.address) | fs_email),
      phone: ($d.phones // [] | jb_primary(.number) | fs_e164($country)),
      first_name: ($d.firstName | fs_clean),
      last_name: ($d.lastName | fs_clean),
      company: ($d.companyName | fs_clean),
      address: ({
        line1: ($a.street1 | fs_clean),
        line2: ($a.street2 | fs_clean),
        city: ($a.city | fs_clean),
        region: (if $country == "US" then ($a.province | fs_us_region) else ($a.province | fs_clean) end),
        postal_code: ($a.postalCode | fs_zip($country)),
        country: $country
      } | fs_nonnull | if . == {} then null else . end),
      status: (if $d.isLead == true then "lead" elif $d.isArchived == true then "archived" else "active" end),
      updated_at: $version
    } | fs_nonnull)
  }
