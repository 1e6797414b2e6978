# ServiceTitan customer (as fs-pull servicetitan reads it: the customer
# with its locations in "locations") -> contact.changed.  The mailing
# address is the first active location's (lowest id), else the customer's
# own address.  ServiceTitan keeps one "name": a commercial customer's
# (type "Commercial", or {"name": "Commercial"}) is the company, a
# residential one's is split at its last space into first and last names.
# status is merged (mergedToId set: the customer lives on as its
# survivor), inactive (active false: deactivated or deleted) or active.
# doNotMail, and a merged-away customer, suppress mail (do_not_mail).  The
# version is the newest modifiedOn of the customer and its locations, so an
# edited location is a new version of its contact.  E-mail and phone live
# in the customer's contacts, which fs-pull does not read.
# reads: data.id data.modifiedOn ?data.name ?data.type ?data.active ?data.doNotMail ?data.mergedToId
# reads: ?data.address ?data.locations
.data as $d
| ([$d.locations // [] | .[] | select(.active != false)] | sort_by(.id) | .[0].address) as $loc
| ($loc // $d.address // {}) as $a
| (($a.country | fs_country) // (if ($a.street // $a.city // $a.zip | fs_clean) != null
                                   then ($source.default_country // "US") else null end)) as $country
| ([$d.modifiedOn, ($d.locations // [] | .[].modifiedOn)] | map(fs_time | select(. != null)) | max) as $version
| ($d.name | fs_clean) as $name
| (($d.type | if type == "object" then .name else . end) // "" | tostring | ascii_downcase) as $type
| {
    kind: "contact.changed",
    object: "contact:\($d.id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.id | tostring),
      first_name: (if $type == "commercial" or $name == null then null
                   elif ($name | index(" ")) then ($name | sub(" +[^ ]*$"; "")) else null end),
      last_name: (if $type == "commercial" or $name == null then null else ($name | sub("^.* "; "")) end),
      company: (if $type == "commercial" then $name else null end),
      address: ({
        line1: ($a.street | fs_clean),
        line2: ($a.unit | fs_clean),
        city: ($a.city | fs_clean),
        region: (if $country == "US" then ($a.state | fs_us_region) else ($a.state | fs_clean) end),
        postal_code: ($a.zip | fs_zip($country)),
        country: $country
      } | fs_nonnull | if . == {} then null else . end),
      status: (if $d.mergedToId != null then "merged" elif $d.active == false then "inactive" else "active" end),
      do_not_mail: (if $d.doNotMail == true or $d.mergedToId != null then true else null end),
      updated_at: $version
    } | fs_nonnull)
  }
