#!/usr/bin/env python3
"""Runs PlanetLab's PLCAPI consistency test (plcsh_stress_test.py) against
a central, one phase at a time, and writes each phase's outcome as JSON.

plcsh_stress_test.Test.Run() runs Add, Update and Delete, each a series of
phases (AddSites, AddAddressTypes, ...), then compares the object counts
from before and after. This runs the same phases in the same order with
the same arguments, but records each phase's outcome instead of stopping
at the first failure: "pass", "fail" (with the error), or "blocked" when
a phase whose objects it works on did not pass (it would pass vacuously,
working on no objects, or fail for another phase's reason). "Cardinals"
is Run()'s final check.

Usage: run_stress.py [--check] [--tiny] [--short-names] [--seed N] --json FILE
Environment: PLCAPI_URL, PLCAPI_USER, PLCAPI_PASSWORD (see PLC/Shell.py).
"""

import argparse
import json
import os
import sys
import traceback
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plcsh_stress_test as st  # noqa: E402
from PLC.Shell import Shell  # noqa: E402

# (phase, the Test method, the sizes it takes, the phases whose objects it
# works on). The order is Run()'s: Add(), Update(), Delete().
ADD = [
    ("AddSites", ["sites"], []),
    ("AddAddressTypes", ["address_types"], []),
    ("AddAddresses", ["addresses_per_site"], ["AddSites", "AddAddressTypes"]),
    ("AddPersons", ["persons_per_site"], ["AddSites"]),
    ("AddKeys", ["keys_per_person"], ["AddPersons"]),
    ("AddTagTypes", ["slice_tags", "nodegroups", "ilinks"], []),
    ("AddNodeGroups", ["nodegroups"], ["AddTagTypes"]),
    ("AddNodes", ["nodes_per_site"], ["AddSites", "AddNodeGroups"]),
    ("AddInterfaces", ["interfaces_per_node"], ["AddNodes"]),
    ("AddIlinks", ["ilinks"], ["AddInterfaces", "AddTagTypes"]),
    ("AddPCUs", ["pcus_per_site"], ["AddSites", "AddNodes"]),
    ("AddConfFiles", ["conf_files"], ["AddNodes", "AddNodeGroups"]),
    ("AddSlices", ["slices_per_site"], ["AddSites", "AddNodes"]),
    ("AddSliceTags", ["attributes_per_slice"], ["AddSlices", "AddTagTypes"]),
]
UPDATE = [
    ("UpdateSites", ["AddSites"]),
    ("UpdateAddressTypes", ["AddAddressTypes"]),
    ("UpdateAddresses", ["AddAddresses"]),
    ("UpdatePersons", ["AddPersons"]),
    ("UpdateKeys", ["AddKeys"]),
    ("UpdateTagTypes", ["AddTagTypes"]),
    ("UpdateNodeGroups", ["AddNodeGroups"]),
    ("UpdateNodes", ["AddNodes"]),
    ("UpdateInterfaces", ["AddInterfaces"]),
    ("UpdateIlinks", ["AddIlinks"]),
    ("UpdatePCUs", ["AddPCUs"]),
    ("UpdateConfFiles", ["AddConfFiles"]),
    ("UpdateSlices", ["AddSlices", "AddNodes", "AddPersons"]),
    ("UpdateSliceTags", ["AddSliceTags"]),
]
DELETE = [
    ("DeleteSliceTags", ["AddSliceTags"]),
    ("DeleteSlices", ["AddSlices"]),
    ("DeleteKeys", ["AddKeys"]),
    ("DeleteConfFiles", ["AddConfFiles"]),
    ("DeletePCUs", ["AddPCUs"]),
    ("DeleteIlinks", ["AddIlinks"]),
    ("DeleteInterfaces", ["AddInterfaces"]),
    ("DeleteNodes", ["AddNodes"]),
    ("DeletePersons", ["AddPersons"]),
    ("DeleteNodeGroups", ["AddNodeGroups"]),
    ("DeleteTagTypes", ["AddTagTypes"]),
    ("DeleteAddresses", ["AddAddresses"]),
    ("DeleteAddressTypes", ["AddAddressTypes"]),
    ("DeleteSites", ["AddSites"]),
]


def survives_xmlrpc(c):
    """Whether XML-RPC carries the character c unchanged."""
    try:
        return xmlrpc.client.loads(xmlrpc.client.dumps((c,)))[0][0] == c
    except Exception:
        return False


def xml_safe_whitespace():
    """The script draws some strings from string.whitespace, which holds
    U+000B and U+000C, which XML 1.0 cannot carry (Python's own
    xmlrpc.client.loads refuses them), and U+000D, which XML parsers turn
    into U+000A. In MyPLC the script runs inside plcsh, which calls the
    API in-process and never encodes them; the script already leaves
    U+000D out of its other pools for that reason. Over XML-RPC, draw
    from the whitespace XML-RPC carries."""
    ws = "".join(c for c in st.whitespace if survives_xmlrpc(c))
    for lengths in (st.Test.namelengths_default, st.Test.namelengths_short):
        for key, pool in lengths.items():
            if key.endswith("_contents"):
                lengths[key] = "".join(c for c in pool if c not in st.whitespace or c in ws)
    st.whitespace = ws


def rfc_email_lengths():
    """The script's default names give emails a 100-character local part.
    Orbis refuses a local part longer than RFC 5321's 64 characters
    (docs/plcapi.md), so the port draws them at most 64 long."""
    for lengths in (st.Test.namelengths_default, st.Test.namelengths_short):
        lengths["email"] = min(lengths["email"], 64)


def plcsh_globals(api):
    """plcsh runs the script with every PLCAPI method bound in its globals
    as well as on its shell, and AddIlinks' check calls GetIlinks so,
    bare. Bind them likewise."""
    for name in api.server.system.listMethods():
        if "." not in name:
            setattr(st, name, getattr(api, name))


def field_detail(e):
    """For a failed check of the script's (assert x[field] == y[field]),
    the field and the two values, from the failing frame."""
    tb = e.__traceback__
    while tb and tb.tb_next:
        tb = tb.tb_next
    if not tb or "field" not in tb.tb_frame.f_locals:
        return ""
    loc = tb.tb_frame.f_locals
    field = loc["field"]
    vals = ["%s=%.80r" % (k, v[field]) for k, v in sorted(loc.items())
            if isinstance(v, dict) and isinstance(field, str) and field in v]
    return ": field %r: %s" % (field, ", ".join(vals))


def phases(sizes):
    """Yields (name, run, deps) in Run()'s order."""
    for name, keys, deps in ADD:
        yield name, (lambda t, name=name, keys=keys: getattr(t, name)(*[sizes[k] for k in keys])), deps
    for name, deps in UPDATE + DELETE:
        yield name, (lambda t, name=name: getattr(t, name)()), deps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--check", action="store_true")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--short-names", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", required=True)
    opts = p.parse_args()

    xml_safe_whitespace()
    rfc_email_lengths()
    st.random.seed(opts.seed)
    test = st.Test(api=Shell(), check=opts.check, verbose=False, preserve=False, federating=False)
    plcsh_globals(test.api)
    test.namelengths = st.Test.namelengths_short if opts.short_names else st.Test.namelengths_default
    sizes = st.Test.sizes_default.copy()
    if opts.tiny:
        sizes.update(st.Test.sizes_tiny)

    before = test.Cardinals()
    results = {}
    for name, run, deps in phases(sizes):
        blocked = [d for d in deps if results[d]["result"] != "pass"]
        if blocked:
            results[name] = {"result": "blocked", "error": "needs " + ", ".join(blocked)}
            continue
        start = len(test.api.calls)
        try:
            run(test)
            results[name] = {"result": "pass"}
        except Exception as e:  # an assertion, a fault, anything: the phase failed
            tb = traceback.extract_tb(e.__traceback__)
            where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
            results[name] = {"result": "fail", "error": "%s: %s (at %s)%s" % (type(e).__name__, e, where, field_detail(e))}
        results[name]["calls"] = sorted(set(test.api.calls[start:]))
    after = test.Cardinals()
    if all(r["result"] == "pass" for r in results.values()):
        results["Cardinals"] = {"result": "pass" if before == after else "fail",
                                "error": "" if before == after else "before %s, after %s" % (before, after)}
    else:
        results["Cardinals"] = {"result": "blocked", "error": "needs every phase"}
    with open(opts.json, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
