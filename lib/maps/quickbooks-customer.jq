# QuickBooks Online Customer (as fs-pull quickbooks reads it) -> contact.changed.
# What a CRM contact is matched on comes normalised: the e-mail in lower
# case, the phone in E.164 (PrimaryPhone, else Mobile), the billing address
# (else the shipping one) with the region and postal code as the CRM's maps
# write them.  The contact's id is the QuickBooks Id: fs-pull does not link
# it to the CRM's (fieldsync-quickbooks(7), CUSTOMERS AND CRM CONTACTS).
# status is active or inactive (QuickBooks never deletes a customer: it
# makes it inactive).  The version is MetaData.LastUpdatedTime.
# reads: data.Id data.MetaData ?data.GivenName ?data.FamilyName ?data.CompanyName ?data.DisplayName
# reads: ?data.PrimaryEmailAddr ?data.PrimaryPhone ?data.Mobile ?data.BillAddr ?data.ShipAddr ?data.Active
.data as $d
| ($d.BillAddr // $d.ShipAddr // {}) as $a
| (($a.Country | fs_country) // (if ($a.Line1 // $a.City // $a.PostalCode | fs_clean) != null
                                 then ($source.default_country // "US") else null end)) as $country
| ($d.MetaData.LastUpdatedTime | fs_time) as $version
| {
    kind: "contact.changed",
    object: "contact:\($d.Id)",
    version: $version,
    occurred_at: $version,
    data: ({
      id: ($d.Id | tostring),
      email: ($d.PrimaryEmailAddr.Address | fs_email),
      phone: (($d.PrimaryPhone.FreeFormNumber | fs_clean) // ($d.Mobile.FreeFormNumber | fs_clean) | fs_e164($country)),
      first_name: ($d.GivenName | fs_clean),
      last_name: ($d.FamilyName | fs_clean),
      company: ($d.CompanyName | fs_clean),
      address: ({
        line1: ($a.Line1 | fs_clean),
        line2: ($a.Line2 | fs_clean),
        city: ($a.City | fs_clean),
        region: (if $country == "US" then ($a.CountrySubDivisionCode | fs_us_region)
                 else ($a.CountrySubDivisionCode | fs_clean) end),
        postal_code: ($a.PostalCode | fs_zip($country)),
        country: $country
      } | fs_nonnull | if . == {} then null else . end),
      status: (if $d.Active == false then "inactive" else "active" end),
      updated_at: $version
    } | fs_nonnull)
  }
