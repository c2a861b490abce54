package plc

import (
	"context"
	"fmt"

	"github.com/orbisproject/orbis/internal/central/store"
)

// Bounds of the PCU models central keeps.
const (
	maxPCUTypes            = 256
	maxPCUProtocolsPerType = 32
	maxPCUProtocol         = 64
)

var (
	pcuTypeKind         = newKind("pcu type", store.PCUType{}, "pcu_type_id", "model")
	pcuProtocolTypeKind = newKind("pcu protocol type", store.PCUProtocolType{}, "pcu_protocol_type_id", "")
	// pcuTypeLimits are PLCAPI's longest PCU type fields, in characters.
	pcuTypeLimits = []fieldLimit{{"model", 254}, {"name", 254}}
)

// pcuTypeHelp says what Orbis does with a PCU type.
const pcuTypeHelp = " Orbis keeps PCU models for the tools that list them, as PLCAPI does, and never powers a node through a PCU."

func (s *Service) registerPCUTypes() {
	s.add(method{name: "GetPCUTypes", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the PCU models ({pcu_type_id, model, name, pcu_protocol_type_ids, pcu_protocol_types}) that match the filter (a pcu_type_id, a model, a list of them, or a struct)." + pcuTypeHelp,
		call: s.getPCUTypes})
	s.add(method{name: "AddPCUType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: fmt.Sprintf("Adds a PCU model {model, name} (a unique model of at most 254 characters) and returns its pcu_type_id; at most %d models.", maxPCUTypes) + pcuTypeHelp,
		call: s.addPCUType})
	s.add(method{name: "UpdatePCUType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Changes a PCU model's model or name (by pcu_type_id or model)." + pcuTypeHelp,
		call: s.updatePCUType})
	s.add(method{name: "DeletePCUType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a PCU model (by pcu_type_id or model) and its protocol types." + pcuTypeHelp,
		call: s.deletePCUType})
	s.add(method{name: "GetPCUProtocolTypes", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the PCU protocol types ({pcu_protocol_type_id, pcu_type_id, port, protocol, supported}) that match the filter (an id, a list of them, or a struct)." + pcuTypeHelp,
		call: s.getPCUProtocolTypes})
	s.add(method{name: "AddPCUProtocolType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: fmt.Sprintf("Adds a port and protocol {port, protocol, supported} to a PCU model (by pcu_type_id or model) and returns its pcu_protocol_type_id; at most %d a model.", maxPCUProtocolsPerType) + pcuTypeHelp,
		call: s.addPCUProtocolType})
	s.add(method{name: "UpdatePCUProtocolType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Changes a PCU protocol type's port, protocol or supported mark." + pcuTypeHelp,
		call: s.updatePCUProtocolType})
	s.add(method{name: "DeletePCUProtocolType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a PCU protocol type." + pcuTypeHelp,
		call: s.deletePCUProtocolType})
}

func (s *Service) getPCUTypes(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, pcuTypeKind, func(t *txn, q store.Query) ([]store.PCUType, error) { return t.PCUTypes(q) },
		func(x *store.PCUType) any { return x.PCUTypeID }, nil)
}

func (s *Service) getPCUProtocolTypes(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, pcuProtocolTypeKind, func(t *txn, q store.Query) ([]store.PCUProtocolType, error) { return t.PCUProtocolTypes(q) },
		func(x *store.PCUProtocolType) any { return x.PCUProtocolTypeID }, nil)
}

// setPCUTypeFields reads pcu_type_fields over p and checks them.
func setPCUTypeFields(f *fieldSet, p *store.PCUType) error {
	if err := readLimited(f, pcuTypeLimits, map[string]*string{"model": &p.Model, "name": &p.Name}); err != nil {
		return err
	}
	if p.Model == "" {
		return Faultf(FaultInvalidArg, "%s.model: must be given", f.what)
	}
	return nil
}

func (s *Service) addPCUType(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "pcu_type_fields")
	if err != nil {
		return nil, err
	}
	var p store.PCUType
	if err := setPCUTypeFields(f, &p); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		have, err := t.PCUTypes(store.Query{})
		if err != nil {
			return err
		}
		if len(have) >= maxPCUTypes {
			return Faultf(FaultInvalidArg, "central has %d PCU types already (at most %d)", len(have), maxPCUTypes)
		}
		return t.AddPCUType(&p)
	})
	return p.PCUTypeID, err
}

func (s *Service) updatePCUType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "pcu_type_id_or_model")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "pcu_type_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.pcuType(ref)
		if err != nil {
			return err
		}
		if err := setPCUTypeFields(f, p); err != nil {
			return err
		}
		return t.UpdatePCUType(p)
	})
	return int64(1), err
}

func (s *Service) deletePCUType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "pcu_type_id_or_model")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.pcuType(ref)
		if err != nil {
			return err
		}
		return t.DeletePCUType(p.PCUTypeID)
	})
	return int64(1), err
}

// setPCUProtocolFields reads pcu_protocol_type_fields over p and checks
// them: PLCAPI wants a port and a protocol.
func setPCUProtocolFields(f *fieldSet, p *store.PCUProtocolType) error {
	if err := f.only("port", "protocol", "supported"); err != nil {
		return err
	}
	f.int("port", &p.Port)
	f.str("protocol", &p.Protocol)
	f.bool("supported", &p.Supported)
	switch {
	case f.err != nil:
		return f.err
	case p.Port <= 0 || p.Port > 1<<16-1:
		return Faultf(FaultInvalidArg, "%s.port: %d (want 1 to %d)", f.what, p.Port, 1<<16-1)
	case p.Protocol == "" || len(p.Protocol) > maxPCUProtocol:
		return Faultf(FaultInvalidArg, "%s.protocol: 1 to %d bytes", f.what, maxPCUProtocol)
	}
	return nil
}

func (s *Service) addPCUProtocolType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "pcu_type_id_or_model")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "protocol_type_fields")
	if err != nil {
		return nil, err
	}
	p := store.PCUProtocolType{Supported: true}
	if err := f.require("port", "protocol"); err != nil {
		return nil, err
	}
	if err := setPCUProtocolFields(f, &p); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		typ, err := t.pcuType(ref)
		if err != nil {
			return err
		}
		if len(typ.PCUProtocolTypeIDs) >= maxPCUProtocolsPerType {
			return Faultf(FaultInvalidArg, "PCU type %s has %d protocol types already (at most %d)", typ.Model, len(typ.PCUProtocolTypeIDs), maxPCUProtocolsPerType)
		}
		p.PCUTypeID = typ.PCUTypeID
		return t.AddPCUProtocolType(&p)
	})
	return p.PCUProtocolTypeID, err
}

func (s *Service) updatePCUProtocolType(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "pcu_protocol_type_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "protocol_type_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		l, err := t.PCUProtocolTypes(refQuery(pcuProtocolTypeKind, id))
		p, err := one(pcuProtocolTypeKind, id, l, err)
		if err != nil {
			return err
		}
		if err := setPCUProtocolFields(f, p); err != nil {
			return err
		}
		return t.UpdatePCUProtocolType(p)
	})
	return int64(1), err
}

func (s *Service) deletePCUProtocolType(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "pcu_protocol_type_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		l, err := t.PCUProtocolTypes(refQuery(pcuProtocolTypeKind, id))
		if _, err := one(pcuProtocolTypeKind, id, l, err); err != nil {
			return err
		}
		return t.DeletePCUProtocolType(id)
	})
	return int64(1), err
}

// pcuType finds a PCU type by pcu_type_id or model.
func (t *txn) pcuType(ref any) (*store.PCUType, error) {
	recs, err := t.PCUTypes(refQuery(pcuTypeKind, ref))
	return one(pcuTypeKind, ref, recs, err)
}
