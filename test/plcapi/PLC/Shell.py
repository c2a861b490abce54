"""PLC.Shell for PlanetLab's plcsh_stress_test.py, over XML-RPC.

MyPLC's plcsh gives the script a Shell whose methods add the caller's
auth struct, unless the first argument already is one, and call PLCAPI.
This one does the same against a central's /PLCAPI/ URL, as an admin
authenticated with a session (GetSession once, with a password), so that
the script's own password logins are the only ones it makes.

Environment: PLCAPI_URL, PLCAPI_USER, PLCAPI_PASSWORD.
"""

import os
import xmlrpc.client


class Shell:
    def __init__(self, url=None, user=None, password=None):
        url = url or os.environ["PLCAPI_URL"]
        user = user or os.environ["PLCAPI_USER"]
        password = password or os.environ["PLCAPI_PASSWORD"]
        self.server = xmlrpc.client.ServerProxy(url, allow_none=True)
        self.calls = []  # every method called, in order
        login = {"AuthMethod": "password", "Username": user, "AuthString": password}
        session = self.server.GetSession(login)
        self.auth = {"AuthMethod": "session", "session": session}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self.server, name)

        def call(*args):
            # As plcsh's Callable: add auth unless args[0] is an auth struct.
            if not args or not isinstance(args[0], dict) or \
                    ("AuthMethod" not in args[0] and "session" not in args[0]):
                args = (self.auth,) + args
            self.calls.append(name)
            return method(*args)
        return call
