package plc

import (
	"context"
	"slices"
)

// plcapiMethods are the methods of PlanetLab's PLCAPI 5.x (MyPLC's
// PLC/Methods, without system.*, which the XML-RPC handler serves).
// system.listMethods lists every one of them: those Orbis does not
// implement yet answer fault 109 saying so, and docs/plcapi.md lists them.
var plcapiMethods = []string{
	"AddAddressType", "AddAddressTypeToAddress", "AddBootState", "AddConfFile", "AddConfFileToNode",
	"AddConfFileToNodeGroup", "AddIlink", "AddInitScript", "AddInterface", "AddInterfaceTag",
	"AddKeyType", "AddLeases", "AddMessage", "AddNetworkMethod", "AddNetworkType", "AddNode",
	"AddNodeGroup", "AddNodeTag", "AddNodeToPCU", "AddNodeType", "AddPCU", "AddPCUProtocolType",
	"AddPCUType", "AddPeer", "AddPerson", "AddPersonKey", "AddPersonTag", "AddPersonToSite",
	"AddPersonToSlice", "AddRole", "AddRoleToPerson", "AddRoleToTagType", "AddSession", "AddSite",
	"AddSiteAddress", "AddSiteTag", "AddSlice", "AddSliceInstantiation", "AddSliceTag",
	"AddSliceToNodes", "AddSliceToNodesWhitelist", "AddTagType", "AuthCheck", "BindObjectToPeer",
	"BlacklistKey", "BootCheckAuthentication", "BootGetNodeDetails", "BootNotifyOwners",
	"BootUpdateNode", "DeleteAddress", "DeleteAddressType", "DeleteAddressTypeFromAddress",
	"DeleteAllPeerEntries", "DeleteBootState", "DeleteConfFile", "DeleteConfFileFromNode",
	"DeleteConfFileFromNodeGroup", "DeleteIlink", "DeleteInitScript", "DeleteInterface",
	"DeleteInterfaceTag", "DeleteKey", "DeleteKeyType", "DeleteLeases", "DeleteMessage",
	"DeleteNetworkMethod", "DeleteNetworkType", "DeleteNode", "DeleteNodeFromPCU", "DeleteNodeGroup",
	"DeleteNodeTag", "DeleteNodeType", "DeletePCU", "DeletePCUProtocolType", "DeletePCUType",
	"DeletePeer", "DeletePerson", "DeletePersonFromSite", "DeletePersonFromSlice", "DeletePersonTag",
	"DeleteRole", "DeleteRoleFromPerson", "DeleteRoleFromTagType", "DeleteSession", "DeleteSite",
	"DeleteSiteTag", "DeleteSlice", "DeleteSliceFromNodes", "DeleteSliceFromNodesWhitelist",
	"DeleteSliceInstantiation", "DeleteSliceTag", "DeleteTagType", "GenerateNodeConfFile",
	"GetAddressTypes", "GetAddresses", "GetBootMedium", "GetBootStates", "GetConfFiles",
	"GetEventObjects", "GetEvents", "GetIlinks", "GetInitScripts", "GetInterfaceTags",
	"GetInterfaces", "GetKeyTypes", "GetKeys", "GetLeaseGranularity", "GetLeases", "GetMessages",
	"GetNetworkMethods", "GetNetworkTypes", "GetNodeFlavour", "GetNodeGroups", "GetNodeTags",
	"GetNodeTypes", "GetNodes", "GetPCUProtocolTypes", "GetPCUTypes", "GetPCUs", "GetPeerData",
	"GetPeerName", "GetPeers", "GetPersonTags", "GetPersons", "GetPlcRelease", "GetRoles",
	"GetSession", "GetSessions", "GetSiteTags", "GetSites", "GetSliceFamily",
	"GetSliceInstantiations", "GetSliceKeys", "GetSliceTags", "GetSliceTicket", "GetSlices",
	"GetSlivers", "GetTagTypes", "GetWhitelist", "NotifyPersons", "NotifySupport", "RebootNode",
	"RebootNodeWithPCU", "RefreshPeer", "ReportRunlevel", "ResetPassword", "ResolveSlices",
	"RetrieveSlicePersonKeys", "RetrieveSliceSliverKeys", "SetPersonPrimarySite", "SliceCreate",
	"SliceDelete", "SliceExtendedInfo", "SliceGetTicket", "SliceInfo", "SliceListNames",
	"SliceListUserSlices", "SliceNodesAdd", "SliceNodesDel", "SliceNodesList", "SliceRenew",
	"SliceTicketGet", "SliceUpdate", "SliceUserAdd", "SliceUserDel", "SliceUsersList",
	"UnBindObjectFromPeer", "UpdateAddress", "UpdateAddressType", "UpdateConfFile", "UpdateIlink",
	"UpdateInitScript", "UpdateInterface", "UpdateInterfaceTag", "UpdateKey", "UpdateLeases",
	"UpdateMessage", "UpdateNode", "UpdateNodeGroup", "UpdateNodeTag", "UpdatePCU",
	"UpdatePCUProtocolType", "UpdatePCUType", "UpdatePeer", "UpdatePerson", "UpdatePersonTag",
	"UpdateSite", "UpdateSiteTag", "UpdateSlice", "UpdateSliceTag", "UpdateTagType", "VerifyPerson",
}

// registerNotYetImplemented adds every PLCAPI method the table does not
// have yet, answering fault 109. It runs last in register; a method
// registered after it replaces its stub.
func (s *Service) registerNotYetImplemented() {
	for _, name := range plcapiMethods {
		if s.reg.Lookup(name) != nil {
			continue
		}
		s.reg.Add(&Method{
			Name:      name,
			Help:      "PLCAPI's " + name + ": Orbis does not implement it yet (docs/plcapi.md lists what it implements), and answers fault 109.",
			Signature: []string{"undef"},
			Roles:     rolesPublic,
			MaxArgs:   maxPLCAPIArgs,
			Missing:   true,
			Call:      notYetImplemented(name),
		})
	}
}

// maxPLCAPIArgs is more arguments than any PLCAPI method takes after auth,
// so that a method not implemented yet always answers fault 109.
const maxPLCAPIArgs = 8

func notYetImplemented(name string) func(context.Context, *Caller, []any) (any, error) {
	return func(context.Context, *Caller, []any) (any, error) {
		return nil, Faultf(FaultNotImpl, "%s: Orbis does not implement this PLCAPI method yet", name)
	}
}

// PLCAPIMethods returns the names of PLCAPI 5.x's methods.
func PLCAPIMethods() []string { return slices.Clone(plcapiMethods) }
