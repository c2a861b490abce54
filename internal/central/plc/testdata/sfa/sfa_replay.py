"""Replays, against a central, the PLCAPI calls of SFA's PlanetLab driver.

Written for Orbis's TestSFAReplay; see ORIGIN.md for where each call
comes from. Every step is one call (or a few that SFA makes together),
named by the file and line it replays; a step passes when the call
succeeds and its answer holds what SFA reads from it. Steps run in SFA's
order, a registration first, so later steps use the records earlier ones
made; a step whose input an earlier failed step should have made uses
the test's own records instead (argv[4], JSON).

argv: URL (https), admin email, admin password, fixture JSON.
Prints one JSON object {step: "ok" or why not} on stdout.
"""

import json
import ssl
import sys
import time
import xmlrpc.client


def simple_ssl_context():
    """
    an SSL context that turns off server verification
    """
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS)
    ssl_context.verify_mode = ssl.CERT_NONE
    return ssl_context


URL, USER, PASSWORD, FIXTURE = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])


class PlShell:
    """SFA's PlShell over XML-RPC: password auth, SSL without verification."""

    def __init__(self):
        self.plauth = {'AuthMethod': 'password', 'Username': USER, 'AuthString': PASSWORD}
        self.proxy = xmlrpc.client.ServerProxy(URL, verbose=False, allow_none=True,
                                               context=simple_ssl_context())

    def __getattr__(self, name):
        def func(*args):
            return getattr(self.proxy, name)(self.plauth, *args)
        return func


shell = PlShell()
results = {}
st = dict(FIXTURE)  # records the steps made, falling back on the test's


def step(name):
    def run(fn):
        try:
            fn()
            results[name] = "ok"
        except xmlrpc.client.Fault as f:
            results[name] = "fault %d: %s" % (f.faultCode, f.faultString)
        except Exception as e:  # SFA reading a field the answer lacks, ...
            results[name] = "%s: %s" % (type(e).__name__, e)
        return fn
    return run


def need(cond, what):
    if not cond:
        raise AssertionError(what)


now = int(time.time())

# --- the importer (sfa-import), against the test's records --------------
@step("plimporter.py:159 GetSites")
def _():
    sites = shell.GetSites({'peer_id': None, 'enabled': True},
                           ['site_id', 'login_base', 'node_ids', 'slice_ids', 'person_ids', 'name', 'hrn'])
    need(any(s['login_base'] == FIXTURE['login_base'] for s in sites), "site missing")
    need(all('hrn' in s for s in sites), "no hrn")


@step("plimporter.py:164 GetPersons")
def _():
    persons = shell.GetPersons({'peer_id': None, 'enabled': True},
                               ['person_id', 'email', 'key_ids', 'site_ids', 'role_ids', 'hrn'])
    need(all('hrn' in p for p in persons), "no hrn")
    st['key_ids'] = [k for p in persons for k in p['key_ids']]


@step("plimporter.py:171 GetPersons disabled")
def _():
    shell.GetPersons({'peer_id': None, 'enabled': False}, ['person_id'])


@step("plimporter.py:180 GetKeys")
def _():
    keys = shell.GetKeys({'peer_id': None, 'key_id': st.get('key_ids', [FIXTURE['key_id']]), 'key_type': 'ssh'})
    need(any(k['key_id'] == FIXTURE['key_id'] for k in keys), "key missing")


@step("plimporter.py:199 GetNodes")
def _():
    nodes = shell.GetNodes({'peer_id': None}, ['node_id', 'hostname', 'site_id'])
    need(any(n['node_id'] == FIXTURE['node_id'] for n in nodes), "node missing")


@step("plimporter.py:204 GetSlices")
def _():
    slices = shell.GetSlices({'peer_id': None}, ['slice_id', 'name', 'person_ids', 'hrn'])
    need(all('hrn' in s for s in slices), "no hrn")


@step("plimporter.py:219 GetSiteSfaCreated")
def _():
    shell.GetSiteSfaCreated(FIXTURE['site_id'])


@step("peers.py:15 GetPeers")
def _():
    shell.GetPeers({}, ['peer_id', 'peername', 'shortname', 'hrn_root'])


# --- the driver's register (pldriver.py:118-200) -------------------------
@step("pldriver.py:125 GetSites login_base")
def _():
    need(shell.GetSites({'peer_id': None, 'login_base': 'sfafed'}) == [], "site exists")


@step("pldriver.py:132 AddSite")
def _():
    st['site_id'] = shell.AddSite({'login_base': 'sfafed', 'name': 'plc.sfafed', 'abbreviated_name': 'plc.sfafed',
                                   'enabled': True, 'is_public': True})


@step("pldriver.py:133 SetSiteHrn")
def _():
    shell.SetSiteHrn(int(st['site_id']), 'plc.sfafed')


@step("pldriver.py:142 GetSlices name")
def _():
    need(shell.GetSlices({'peer_id': None, 'name': 'sfafed_exp'}) == [], "slice exists")


@step("pldriver.py:149 AddSlice")
def _():
    st['slice_id'] = shell.AddSlice({'name': 'sfafed_exp', 'instantiation': 'plc-instantiated',
                                     'url': 'http://sfa.example', 'description': 'federated'})


@step("pldriver.py:150 SetSliceHrn")
def _():
    shell.SetSliceHrn(int(st['slice_id']), 'plc.sfafed.exp')


@step("pldriver.py:155 GetPersons email")
def _():
    need(shell.GetPersons({'peer_id': None, 'email': 'fed@sfa.example'}) == [], "person exists")


@step("pldriver.py:166 AddPerson, UpdatePerson, AddPersonToSite, AddRoleToPerson, AddPersonKey")
def _():
    st['person_id'] = shell.AddPerson({'first_name': 'Fed', 'last_name': 'Erated', 'email': 'fed@sfa.example',
                                       'password': 'a-long-enough-password'})
    shell.UpdatePerson(st['person_id'], {'enabled': True})
    shell.AddPersonToSite(st['person_id'], 'sfafed')
    shell.AddRoleToPerson('user', st['person_id'])
    st['person_key'] = shell.AddPersonKey(st['person_id'], {'key_type': 'ssh', 'key': 'ssh-ed25519 AAAAfed fed@sfa'})


@step("pldriver.py:167 SetPersonHrn")
def _():
    shell.SetPersonHrn(int(st['person_id']), 'plc.sfafed.fed')


@step("pldriver.py:196 GetNodes hostname")
def _():
    need(shell.GetNodes({'peer_id': None, 'hostname': 'n1.sfafed.example'}) == [], "node exists")


@step("pldriver.py:199 AddNode")
def _():
    st['new_node'] = shell.AddNode('sfafed', {'hostname': 'n1.sfafed.example', 'model': 'geni'})


@step("pldriver.py:200 SetNodeHrn")
def _():
    need('new_node' in st, "AddNode failed")
    shell.SetNodeHrn(int(st['new_node']), 'plc.sfafed.n1')


# --- update (pldriver.py:205-270) -----------------------------------------
@step("pldriver.py:221 UpdateSite")
def _():
    shell.UpdateSite(st['site_id'], {'name': 'SFA federation', 'url': 'http://sfa.example'})


@step("pldriver.py:228 UpdateSlice")
def _():
    shell.UpdateSlice(st['slice_id'], {'description': 'federated, updated', 'url': 'http://sfa.example/exp'})


@step("pldriver.py:247 UpdatePerson")
def _():
    shell.UpdatePerson(st['person_id'], {'first_name': 'Fede', 'phone': '+33 1 23 45 67 89'})


@step("pldriver.py:252 GetPersons key_ids, GetKeys")
def _():
    person = shell.GetPersons({'peer_id': None, 'person_id': st['person_id']}, ['key_ids'])[0]
    keys = shell.GetKeys(person['key_ids'])
    need([k['key'] for k in keys] == ['ssh-ed25519 AAAAfed fed@sfa'], "keys")


@step("pldriver.py:269 UpdateNode")
def _():
    need('new_node' in st, "AddNode failed")
    shell.UpdateNode(st['new_node'], {'hostname': 'n1.sfafed.example', 'model': 'geni'})


# --- fill_record_info (pldriver.py:346-470) -------------------------------
@step("pldriver.py:381 GetNodes, GetSites, GetSlices, GetPersons, GetKeys by ids")
def _():
    nodes = shell.GetNodes({'peer_id': None, 'node_id': [FIXTURE['node_id']]})
    sites = shell.GetSites({'peer_id': None, 'site_id': [FIXTURE['site_id']]})
    slices = shell.GetSlices({'peer_id': None, 'slice_id': [FIXTURE['slice_id']]})
    persons = shell.GetPersons({'peer_id': None, 'person_id': [FIXTURE['person_id']]})
    keys = shell.GetKeys([FIXTURE['key_id']])
    need(len(nodes) == len(sites) == len(slices) == len(persons) == len(keys) == 1, "one of each")


@step("pldriver.py:453 field-limited Gets")
def _():
    need(shell.GetSites({'peer_id': None, 'site_id': [FIXTURE['site_id']]}, ['site_id', 'login_base'])[0]['login_base']
         == FIXTURE['login_base'], "login_base")
    shell.GetPersons({'peer_id': None, 'person_id': [FIXTURE['person_id']]}, ['person_id', 'email'])
    shell.GetSlices({'peer_id': None, 'slice_id': [FIXTURE['slice_id']]}, ['slice_id', 'name'])
    shell.GetNodes({'peer_id': None, 'node_id': [FIXTURE['node_id']]}, ['node_id', 'hostname'])


@step("pldriver.py:536 GetPersons PIs")
def _():
    pis = shell.GetPersons({'peer_id': None, '|roles': ['pi'], '|site_ids': [FIXTURE['site_id']]}, ['person_id', 'site_ids'])
    need(pis, "a PI")


@step("pldriver.py:567 GetPersons roles")
def _():
    p = shell.GetPersons([FIXTURE['person_id']], ['person_id', 'roles'])
    need(p[0]['roles'], "roles")


# --- update_relation (pldriver.py:630-660) --------------------------------
@step("pldriver.py:636 GetSlices, AddPersonToSlice, DeletePersonFromSlice")
def _():
    subject = shell.GetSlices(st['slice_id'])[0]
    need(subject['person_ids'] == [], "no users yet")
    shell.AddPersonToSlice(st['person_id'], st['slice_id'])
    shell.DeletePersonFromSlice(st['person_id'], st['slice_id'])
    shell.AddPersonToSlice(st['person_id'], st['slice_id'])


@step("pldriver.py:656 GetPersons, AddRoleToPerson pi")
def _():
    for person in shell.GetPersons({'peer_id': None, 'person_id': [st['person_id']]}):
        if 'pi' not in person['roles']:
            shell.AddRoleToPerson('pi', person['person_id'])


# --- the aggregate (plaggregate.py) ---------------------------------------
@step("plaggregate.py:42 GetNodes")
def _():
    need(shell.GetNodes({'peer_id': None}), "nodes")
    shell.GetNodes({'peer_id': None, 'boot_state': 'boot'})


@step("plaggregate.py:50 GetSites")
def _():
    shell.GetSites({'site_id': [FIXTURE['site_id']]})


@step("plaggregate.py:58 GetInterfaces")
def _():
    for i in shell.GetInterfaces({'interface_id': []}):
        i['bwlimit']


@step("plaggregate.py:120 GetNodeTags")
def _():
    shell.GetNodeTags({'node_tag_id': []}, ['tagname', 'value', 'node_id', 'node_tag_id'])


@step("plaggregate.py:129 GetInitScripts")
def _():
    for i in shell.GetInitScripts({'enabled': True}):
        i['initscript_id'], i['name']


@step("plaggregate.py:162 GetSlices hrn")
def _():
    s = shell.GetSlices({'peer_id': None, 'name': FIXTURE['slice_name']},
                        ['slice_id', 'name', 'hrn', 'person_ids', 'node_ids', 'slice_tag_ids', 'expires'])
    need(s and 'hrn' in s[0], "hrn")


@step("plaggregate.py:186 GetPersons, GetKeys")
def _():
    persons = shell.GetPersons([FIXTURE['person_id']])
    keys = shell.GetKeys(persons[0]['key_ids'])
    need(keys, "keys")


@step("plaggregate.py:202 GetPersonHrn")
def _():
    shell.GetPersonHrn(int(FIXTURE['person_id']))


@step("plaggregate.py:269 GetNodeTags hardware_type")
def _():
    shell.GetNodeTags({'node_id': FIXTURE['node_id'], 'tagname': 'hardware_type'})


@step("plaggregate.py:294 GetSiteTags")
def _():
    shell.GetSiteTags({'site_id': FIXTURE['site_id'], 'tagname': 'extra'})


@step("plaggregate.py:328 GetLeaseGranularity")
def _():
    need(shell.GetLeaseGranularity() > 0, "granularity")


@step("plaggregate.py:367 GetSliceTags")
def _():
    tags = shell.GetSliceTags({'slice_tag_id': FIXTURE['slice_tag_ids']}, ['tagname', 'value', 'node_id', 'nodegroup_id'])
    need(tags and all('nodegroup_id' in t for t in tags), "nodegroup_id")


@step("plaggregate.py:451 GetLeases clip")
def _():
    leases = shell.GetLeases({'clip': now, 'name': FIXTURE['slice_name']})
    need(leases, "the slice's lease")
    for lease in leases:
        lease['site_id'], lease['hostname'], lease['name'], lease['t_from'], lease['t_until'], lease['lease_id']


@step("plaggregate.py:471 GetNodeHrn, GetSliceHrn")
def _():
    shell.GetNodeHrn(FIXTURE['hostname'])
    shell.GetSliceHrn(FIXTURE['slice_id'])


# --- slices (plslices.py) -------------------------------------------------
@step("plslices.py:35 GetSlices, GetPersons, GetKeys, GetSliceTags")
def _():
    sl = shell.GetSlices(FIXTURE['slice_name'], ['slice_id', 'name', 'person_ids', 'slice_tag_ids', 'node_ids'])[0]
    shell.GetPersons({'person_id': sl['person_ids'], 'enabled': True}, ['person_id', 'enabled', 'key_ids'])
    shell.GetKeys([FIXTURE['key_id']], ['key_id', 'key', 'key_type'])
    need(shell.GetSliceTags(sl['slice_tag_ids']), "tags")


@step("plslices.py:149 GetLeases, DeleteLeases, AddLeases")
def _():
    leases = shell.GetLeases({'name': FIXTURE['slice_name'], 'clip': now},
                             ['lease_id', 'name', 'hostname', 't_from', 't_until'])
    need(len(leases) == 1, "one lease")
    grain = shell.GetLeaseGranularity()
    shell.DeleteLeases([leases[0]['lease_id']])
    r = shell.AddLeases(leases[0]['hostname'], FIXTURE['slice_name'], leases[0]['t_from'], leases[0]['t_from'] + 2 * grain)
    need(r['errors'] == [] and len(r['new_ids']) == 1, "AddLeases: %r" % r)


@step("plslices.py:229 GetNodes, AddSliceToNodes, DeleteSliceFromNodes")
def _():
    sl = shell.GetSlices(st['slice_id'])[0]
    shell.GetNodes(sl['node_ids'], ['node_id', 'hostname', 'interface_ids'])
    shell.AddSliceToNodes('sfafed_exp', [FIXTURE['hostname']])
    shell.DeleteSliceFromNodes('sfafed_exp', [])
    after = shell.GetSlices('sfafed_exp', ['node_ids'])
    need(after[0]['node_ids'] == [FIXTURE['node_id']], "node_ids")
    shell.GetNodes(after[0]['node_ids'])


@step("plslices.py:266 GetSliceTags egre_key")
def _():
    shell.GetSliceTags({'tagname': 'egre_key'})


@step("plslices.py:353 GetSites hrn")
def _():
    shell.GetSites({'peer_id': None, 'hrn': 'plc.sfafed'}, ['site_id', 'name', 'abbreviated_name', 'login_base', 'hrn'])


@step("plslices.py:377 AddSiteTag")
def _():
    shell.AddSiteTag(st['site_id'], 'exempt_site_until', "20200101")


@step("plslices.py:397 GetSlices hrn, UpdateSlice expires")
def _():
    shell.GetSlices({'peer_id': None, 'hrn': 'plc.sfafed.exp'}, ['slice_id', 'name', 'hrn', 'expires'])


@step("plslices.py:406 UpdateSlice expires")
def _():
    shell.UpdateSlice(st['slice_id'], {'expires': now + 7 * 86400})
    need(abs(shell.GetSlices(st['slice_id'])[0]['expires'] - (now + 7 * 86400)) < 2, "expires")


@step("plslices.py:526 GetPersons hrn")
def _():
    shell.GetPersons({'peer_id': None, 'hrn': ['plc.sfafed.fed']}, ['person_id', 'email', 'hrn'])


@step("plslices.py:586 GetKeys person_id, AddPersonKey")
def _():
    keys = shell.GetKeys({'person_id': int(st['person_id'])})
    need([k['key'] for k in keys] == ['ssh-ed25519 AAAAfed fed@sfa'], "keys")
    shell.AddPersonKey(int(st['person_id']), {'key_type': 'ssh', 'key': 'ssh-ed25519 AAAAfed2 fed@sfa'})


@step("plslices.py:628 GetTagTypes")
def _():
    shell.GetTagTypes({'category': '*slice*', '|roles': ['user']})


@step("plslices.py:638 GetSliceTags, AddSliceTag, DeleteSliceTag")
def _():
    shell.GetSliceTags({'slice_id': st['slice_id']})
    tag = shell.AddSliceTag('sfafed_exp', 'initscript', 'web')
    shell.DeleteSliceTag(tag)


# --- delete (pldriver.py:800-830) and remove (pldriver.py:272-294) -------
@step("pldriver.py:768 GetSlices hrn")
def _():
    shell.GetSlices({'peer_id': None, 'name': 'sfafed_exp'}, ['hrn'])


@step("pldriver.py:812 GetLeases name node_id, DeleteSliceFromNodes")
def _():
    leases = shell.GetLeases({'name': 'sfafed_exp', 'node_id': [FIXTURE['node_id']]})
    shell.DeleteSliceFromNodes(st['slice_id'], [FIXTURE['node_id']])
    if leases:
        shell.DeleteLeases([l['lease_id'] for l in leases])


@step("pldriver.py:889 GetSlices slice_id")
def _():
    need(shell.GetSlices({'peer_id': None, 'name': 'sfafed_exp'}, ['slice_id'])[0]['slice_id'] == st['slice_id'], "slice")


@step("pldriver.py:278 GetPersons, DeletePerson, DeleteSlice, DeleteNode, DeleteSite")
def _():
    if shell.GetPersons({'peer_id': None, 'person_id': st['person_id']}):
        shell.DeletePerson(st['person_id'])
    if shell.GetSlices({'peer_id': None, 'slice_id': st['slice_id']}):
        shell.DeleteSlice(st['slice_id'])
    if 'new_node' in st and shell.GetNodes({'peer_id': None, 'node_id': st['new_node']}):
        shell.DeleteNode(st['new_node'])
    if shell.GetSites({'peer_id': None, 'site_id': st['site_id']}):
        shell.DeleteSite(st['site_id'])
    need(shell.GetSites({'login_base': 'sfafed'}) == [], "site gone")


print(json.dumps(results))
