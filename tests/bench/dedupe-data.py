#!/usr/bin/env python3
"""Labelled contacts for the fs-dedupe scan bench (tests/bench/30-dedupe.sh).

  dedupe-data.py febrl FILE.csv     FEBRL records as contact.changed events
  dedupe-data.py generate N SEED    N synthetic people with realistic duplicates
  dedupe-data.py events N SEED      N canonical events, 10% of them repeated ids
  dedupe-data.py score              scan NDJSON on stdin + labels file argv[2]:
                                    prints "precision recall pairs"

Contact ids carry their truth: "<entity>~<k>", so that pairs can be scored
without a side file.  FEBRL ids "rec-N-org" / "rec-N-dup-k" map to "N~org",
"N~k" (SOURCE.md: records that share N are one person).
"""
import csv
import itertools
import json
import random
import sys


def event(cid, first, last, email=None, phone=None, line1=None, city=None, region=None, postal=None):
    d = {"id": cid}
    if email:
        d["email"] = email
    if phone:
        d["phone"] = phone
    if first:
        d["first_name"] = first
    if last:
        d["last_name"] = last
    if line1 or city or postal:
        a = {}
        for k, v in (("line1", line1), ("city", city), ("region", region), ("postal_code", postal)):
            if v:
                a[k] = v
        a["country"] = "US"
        d["address"] = a
    d["updated_at"] = "2026-11-29T10:00:00Z"
    return json.dumps({"type": "event", "id": "evt_" + cid, "run_id": "run_bench", "source": "csv",
                       "kind": "contact.changed", "object": "contact:" + cid,
                       "occurred_at": "2026-11-29T10:00:00Z", "data": d}, separators=(",", ":"))


def febrl(path):
    with open(path, newline="") as f:
        r = csv.reader(f, skipinitialspace=True)
        next(r)
        for row in r:
            if not row:
                continue
            rec, given, surname, num, a1, a2, suburb, postcode, state = [x.strip() for x in row[:9]]
            parts = rec.split("-")
            cid = parts[1] + "~" + ("org" if parts[2] == "org" else parts[3])
            line1 = " ".join(x for x in (num, a1) if x)
            print(event(cid, given, surname, line1=line1 or None, city=suburb or None,
                        region=state or None, postal=postcode or None))


FIRST = ("james john robert michael william david richard joseph thomas charles christopher daniel "
         "matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy "
         "ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin "
         "scott brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry "
         "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy "
         "betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa "
         "deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda "
         "pamela emma nicole helen samantha katherine christine debra rachel carolyn janet "
         "catherine maria heather diane ruth julie olivia joyce virginia victoria kelly lauren").split()
LAST = ("smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
        "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris "
        "sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill "
        "flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips "
        "evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook "
        "rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward "
        "richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez "
        "castillo sanders patel myers long ross foster jimenez powell jenkins perry russell sullivan "
        "bell coleman butler henderson barnes gonzales fisher vasquez simmons romero jordan patterson "
        "alexander hamilton graham reynolds griffin wallace moreno west cole hayes bryant herrera "
        "gibson ellis tran medina aguilar stevens murray ford castro marshall owens harrison fernandez "
        "mcdonald woods washington kennedy wells vargas henry chen freeman webb tucker guzman burns "
        "crawford olson simpson porter hunter gordon mendez silva shaw snyder mason dixon munoz hunt "
        "hicks holmes palmer wagner black robertson boyd rose stone salazar fox warren mills meyer "
        "rice schmidt garza daniels ferguson nichols stephens soto weaver ryan gardner payne grant "
        "dunn kelley spencer hawkins arnold pierce vazquez hansen peters santos hart bradley knight").split()
STREETS = ("oak pine maple cedar elm washington lake hill main park view sunset ridge walnut spruce "
           "willow church mill river highland forest meadow jackson lincoln madison franklin center "
           "chestnut birch cherry dogwood hickory laurel magnolia poplar sycamore aspen juniper").split()
TYPES = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Lane", "Ln"),
         ("Court", "Ct"), ("Place", "Pl"), ("Boulevard", "Blvd")]
CITIES = ("springfield riverside franklin greenville bristol clinton fairview salem madison georgetown "
          "arlington ashland burlington manchester milton newport oxford").split()
NICK = {"william": "bill", "robert": "bob", "richard": "dick", "james": "jim", "michael": "mike",
        "thomas": "tom", "elizabeth": "liz", "katherine": "kate", "margaret": "peggy",
        "jennifer": "jen", "joseph": "joe", "charles": "chuck", "christopher": "chris",
        "daniel": "dan", "anthony": "tony", "edward": "ed", "patricia": "pat", "susan": "sue",
        "samuel": "sam", "benjamin": "ben", "nicholas": "nick", "kenneth": "ken", "deborah": "debbie",
        "pamela": "pam", "victoria": "vicky", "stephen": "steve", "timothy": "tim", "gregory": "greg"}


def typo(rng, s):
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.randrange(4)
    if op == 0:
        return s[:i] + s[i + 1:]                       # deletion
    if op == 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]     # transposition
    if op == 2:
        return s[:i] + rng.choice("aeiourstnl") + s[i + 1:]   # substitution
    return s[:i] + s[i] + s[i:]                        # doubled letter


# A town's share of the name pools: real towns repeat a few names often, and
# namesakes (two people, one name) are what a scan must not join.
POOL_FIRST, POOL_LAST = 40, 60


def generate(n, seed):
    """n entities drawn from small name pools; a third get one or two
    corrupted duplicates.  Hard negatives: households (same surname, address
    and landline, another first name and e-mail) and namesakes (same first and
    last name on the same street of the same town, another house number, ZIP,
    e-mail and phone)."""
    rng = random.Random(seed)
    first_pool, last_pool = FIRST[:POOL_FIRST], LAST[:POOL_LAST]
    zips = {c: ["%03d%02d" % (100 + i * 37, k) for k in rng.sample(range(100), 6)] for i, c in enumerate(CITIES)}
    out = []
    used = set()

    def unique(make):
        # Two people never share an e-mail address or a mobile number: drawn again.
        while True:
            v = make()
            if v not in used:
                used.add(v)
                return v

    def person(first, last, st_name, st_type, city):
        num = str(rng.randrange(1, 9999))
        phone = unique(lambda: "%03d-555-%04d" % (rng.randrange(201, 989), rng.randrange(10000)))
        email = unique(lambda: "%s.%s%d@%s" % (first, last, rng.randrange(1000),
                                               rng.choice(["example.com", "mail.test", "post.example"])))
        p = dict(first=first.capitalize(), last=last.capitalize(), email=email,
                 phone=phone if rng.random() < 0.7 else None,
                 line1="%s %s %s" % (num, st_name, st_type[0]), city=city.capitalize(), region="AZ",
                 postal=rng.choice(zips[city]))
        if rng.random() < 0.2:
            p["email"] = None
        return p, num

    for e in range(n):
        first, last = rng.choice(first_pool), rng.choice(last_pool)
        st_name = rng.choice(STREETS).capitalize()
        st_type = rng.choice(TYPES)
        city = rng.choice(CITIES)
        base, num = person(first, last, st_name, st_type, city)
        out.append(("%d~org" % e, base))
        if rng.random() < 0.1:
            # A household member: a different person, not a duplicate.
            other = rng.choice([f for f in first_pool if f[0] != first[0]])
            hm = dict(base, first=other.capitalize(),
                      email=unique(lambda: "%s.%s%d@example.com" % (other, last, rng.randrange(1000))))
            out.append(("h%d~org" % e, hm))
        if rng.random() < 0.1:
            # A namesake down the street: another person, maybe another street type.
            ns, _ = person(first, last, st_name, rng.choice(TYPES), city)
            out.append(("n%d~org" % e, ns))
        if rng.random() >= 1 / 3:
            continue
        for k in range(rng.choice([1, 1, 1, 2])):
            d = dict(base)
            ops = rng.sample(["typo_first", "typo_last", "swap", "abbrev", "nick", "email_case",
                              "missing_email", "missing_phone", "missing_postal", "typo_street",
                              "missing_first", "phone_format", "new_email"], rng.choice([1, 2, 2, 3]))
            for op in ops:
                if op == "typo_first" and d["first"]:
                    d["first"] = typo(rng, d["first"])
                elif op == "typo_last" and d["last"]:
                    d["last"] = typo(rng, d["last"])
                elif op == "swap":
                    d["first"], d["last"] = d["last"], d["first"]
                elif op == "abbrev":
                    d["line1"] = "%s %s %s" % (num, st_name, st_type[1] + rng.choice(["", "."]))
                elif op == "nick" and first in NICK:
                    d["first"] = NICK[first].capitalize()
                elif op == "email_case" and d["email"]:
                    d["email"] = d["email"].upper() if rng.random() < 0.5 else d["email"].capitalize()
                elif op == "missing_email":
                    d["email"] = None
                elif op == "missing_phone":
                    d["phone"] = None
                elif op == "missing_postal":
                    d["postal"] = None
                elif op == "typo_street":
                    d["line1"] = "%s %s %s" % (num, typo(rng, st_name), st_type[0])
                elif op == "missing_first":
                    d["first"] = None
                elif op == "phone_format" and d["phone"]:
                    p = d["phone"].replace("-", "")
                    d["phone"] = "(%s) %s-%s" % (p[:3], p[3:6], p[6:])
                elif op == "new_email":
                    d["email"] = unique(lambda: "%s%d@other.example" % (first[0] + last, rng.randrange(10000)))
            out.append(("%d~%d" % (e, k), d))
    rng.shuffle(out)
    for cid, d in out:
        print(event(cid, d["first"], d["last"], d["email"], d["phone"], d["line1"], d["city"],
                    d["region"], d["postal"]))


def events(n, seed):
    """n canonical events; 10% repeat the id of an earlier one."""
    rng = random.Random(seed)
    w = sys.stdout.write
    made = 0
    for i in range(n):
        k = rng.randrange(made) if made and rng.random() < 0.1 else made
        if k == made:
            made += 1
        w('{"type":"event","id":"evt_%032x","run_id":"run_bench","source":"hubspot","kind":"contact.changed",'
          '"object":"contact:%d","occurred_at":"2026-11-29T10:00:00Z","data":{"id":"%d",'
          '"email":"c%d@example.com","status":"lead","updated_at":"2026-11-29T10:00:00Z"}}\n'
          % (k * 2654435761 % (1 << 128), k, k, k))


def entity(cid):
    return cid.split("~")[0]


def score(labels_path):
    ids = []
    with open(labels_path) as f:
        for line in f:
            ids.append(json.loads(line)["data"]["id"])
    groups = {}
    for cid in ids:
        groups.setdefault(entity(cid), []).append(cid)
    true_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    found = correct = 0
    for line in sys.stdin:
        o = json.loads(line)
        if o.get("type") != "duplicate_set":
            continue
        m = [x.split(":", 1)[1] for x in o["members"]]
        for a, b in itertools.combinations(m, 2):
            found += 1
            correct += entity(a) == entity(b)
    p = correct / found if found else 1.0
    r = correct / true_pairs if true_pairs else 1.0
    print("%.3f %.3f %d %d" % (p, r, found, true_pairs))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "febrl":
        febrl(sys.argv[2])
    elif cmd == "generate":
        generate(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "events":
        events(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "score":
        score(sys.argv[2])
