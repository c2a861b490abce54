"""Runs PlanetLab NodeManager's own GetSlivers consumers against a central.

Written for Orbis's TestNodeManagerReadsGetSlivers. The modules under
nodemanager/ are NodeManager's, unmodified (see nodemanager/ORIGIN.md);
the modules they import to touch the system (logger, tools, database,
curlwrapper, sioc, bwlimit, ...) are replaced by stubs that record what
the code asked for, so that it runs unprivileged-safe in a scratch
directory.

The answer of GetSlivers is wrapped so that every key the modules read
is recorded: a key read with [] or get() that is absent, or probed with
`in` and absent (except NodeManager's fallbacks for older PLCAPIs), is a
failure. So is any error a module logs with log_exc or log_missing_data.

argv: URL, session key, node id, scratch directory. Prints one JSON
report on the last line of stdout.
"""

import builtins
import io
import json
import os
import sys
import types

real_open = builtins.open
HERE = os.path.dirname(os.path.abspath(__file__))
URL, SESSION, NODE_ID, SCRATCH = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

report = {"missing": [], "errors": [], "records": [], "fetched": [], "installed": {},
          "commands": [], "bwlimit": [], "policy": None, "timers": 0, "defaults": None}

# Keys NodeManager probes only to fall back to an older PLCAPI's name.
FALLBACKS = {"networks"}


class Tracked(dict):
    """A dict that records every absent key read from it."""

    def __init__(self, d, path):
        super().__init__(d)
        self.path = path

    def _miss(self, k):
        report["missing"].append("%s.%s" % (self.path, k))

    def __getitem__(self, k):
        if not dict.__contains__(self, k):
            self._miss(k)
        return dict.__getitem__(self, k)

    def get(self, k, default=None):
        if not dict.__contains__(self, k):
            self._miss(k)
            return default
        return dict.__getitem__(self, k)

    def __contains__(self, k):
        ok = dict.__contains__(self, k)
        if not ok and k not in FALLBACKS:
            self._miss(k)
        return ok

    def pop(self, k, *default):
        if not dict.__contains__(self, k):
            self._miss(k)
        return dict.pop(self, k, *default)

    def copy(self):
        return Tracked(self, self.path)


def track(v, path):
    if isinstance(v, dict):
        return Tracked({k: track(x, "%s.%s" % (path, k)) for k, x in v.items()}, path)
    if isinstance(v, list):
        return [track(x, "%s[]" % path) for x in v]
    return v


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def log_exc(msg, name=None):
    report["errors"].append("%s: %r" % (msg, sys.exc_info()[1]))


def log_missing_data(msg, key):
    report["missing"].append("%s: %s" % (msg, key))


def noop(*a, **k):
    return None


module("logger", log=noop, verbose=noop, log_exc=log_exc, log_missing_data=log_missing_data,
       log_slivers=noop, log_data_in_file=noop, log_call=noop, LOG_NODE=1, LOG_VERBOSE=2)


def write_file(path, fill, mode=None, uidgid=None):
    buf = io.StringIO()
    fill(buf)
    report["installed"][path] = buf.getvalue()


def replace_file_with_string(path, text, **kw):
    # Only ever under SCRATCH: specialaccounts' homes come from getpwnam.
    report["installed"][path] = text
    with real_open(path, "w") as f:
        f.write(text)
    return True


def fork_as(user, fn, cmd):
    report["commands"].append(cmd)
    return 0


module("tools", node_id=lambda: NODE_ID, fork_as=fork_as, write_file=write_file,
       replace_file_with_string=replace_file_with_string, get_default_if=lambda: "lo",
       as_daemon_thread=noop)  # nodemanager.py starts its loop on import


def retrieve(url, cacert=None, postdata=None, timeout=None):
    report["fetched"].append(url)
    return b"contents of " + url.encode()


module("curlwrapper", retrieve=retrieve)


class Config:
    PLC_BOOT_HOST = "boot.example.org"
    PLC_SLICE_PREFIX = "plc"
    cacert = None

    def __init__(self, *a):
        pass


module("config", Config=Config)


class DB:
    def deliver_record(self, rec):
        report["records"].append(rec)

    def set_min_timestamp(self, ts):
        report["min_timestamp"] = ts

    def sync(self):
        pass


module("database", synchronized=lambda f: f, db=DB())
module("account", register_class=noop)
module("api")
module("api_calls")
module("controller", Controller=type("Controller", (), {}))
module("sliver_lxc", Sliver_LXC=type("Sliver_LXC", (), {"SHELL": "/usr/sbin/vsh"}))
module("plnode")
module("plnode.bwlimit", bwmin=8000, bwmax=1000 * 1000 * 1000, get_bwcap=lambda dev: None,
       init=lambda dev, rate: report["bwlimit"].append([dev, rate]), tc=lambda cmd: "",
       stop=noop, exempt_init=noop)
sys.modules["plnode"].bwlimit = sys.modules["plnode.bwlimit"]
module("plnet", InitInterfaces=noop)
module("iptables", IPTables=lambda: types.SimpleNamespace(add_pf=noop, commit=noop))


class SafeServerProxy:
    """safexmlrpc's ServerProxy without curl: the test serves plain HTTP."""

    def __new__(cls, uri, cacert, timeout=300, **kwds):
        import xmlrpc.client
        return xmlrpc.client.ServerProxy(uri, **kwds)


module("safexmlrpc", ServerProxy=SafeServerProxy)


def node_interfaces():
    # sioc: the node's devices by name, with the address central knows.
    return {"lo": "127.0.0.1"}


module("sioc", gifconf=node_interfaces, gifhwaddr=lambda dev: "00:00:00:00:00:00")


def getpwnam(name):
    home = os.path.join(SCRATCH, "home", name)
    os.makedirs(home, exist_ok=True)
    return (name, "x", os.getuid(), os.getgid(), name, home, "/bin/sh")


sys.path[:0] = [os.path.join(HERE, "nodemanager"), os.path.join(HERE, "nodemanager", "plugins")]

import plcapi  # noqa: E402  (NodeManager's client)
import nodemanager  # noqa: E402
import slivermanager  # noqa: E402
import conf_files  # noqa: E402
import net  # noqa: E402
import specialaccounts  # noqa: E402
import reservation  # noqa: E402

specialaccounts.pwd = types.SimpleNamespace(getpwnam=getpwnam)

def node_open(path, *a, **k):
    # slivermanager reads the node's id from /etc/planetlab/node_id.
    if path == "/etc/planetlab/node_id":
        return io.StringIO(str(NODE_ID))
    return real_open(path, *a, **k)


slivermanager.open = node_open

plc = plcapi.PLCAPI(URL, None, SESSION)
raw = plc.GetSlivers()
data = track(raw, "data")
config = Config()

# nodemanager.NodeManager.GetSlivers, without its pickle file and loop.
nodemanager.NodeManager.getPLCDefaults(None, data, config)
nodemanager.NodeManager.setSliversVref(None, data)
report["defaults"] = getattr(config, "OVERRIDES", None)
for mod in (net, conf_files, specialaccounts, slivermanager, reservation):
    try:
        mod.GetSlivers(data, config, plc)
    except Exception as e:  # a module failing on the answer is what we test
        report["errors"].append("%s.GetSlivers: %r" % (mod.__name__, e))

res = reservation.Singleton(reservation.reservation)
report["policy"] = getattr(res, "reservation_policy", None)
report["timers"] = len(res.timers)
res.clear_timers()
report["records"] = [{k: v for k, v in r.items() if k in ("name", "initscript", "vref", "keys", "type", "reservation_alive")}
                     | {"cpu_share": r["rspec"]["cpu_share"]} for r in report["records"]]
print(json.dumps(report, default=str))
