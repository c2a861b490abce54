package store

import (
	"database/sql"
	"fmt"
)

// PCUType is PLCAPI's PCU model: a model name, its full name and the
// ports and protocols it speaks. Central keeps it for the tools that list
// PCU models; Orbis never powers a node through a PCU.
type PCUType struct {
	PCUTypeID          int64             `json:"pcu_type_id"`
	Model              string            `json:"model"`
	Name               string            `json:"name"`
	PCUProtocolTypeIDs []int64           `json:"pcu_protocol_type_ids"`
	PCUProtocolTypes   []PCUProtocolType `json:"pcu_protocol_types"`
}

// PCUProtocolType is a port and protocol of a PCU model.
type PCUProtocolType struct {
	PCUProtocolTypeID int64  `json:"pcu_protocol_type_id"`
	PCUTypeID         int64  `json:"pcu_type_id"`
	Port              int64  `json:"port"`
	Protocol          string `json:"protocol"`
	Supported         bool   `json:"supported"`
}

// pcuTypeTable is what a PCU type Query may name.
var pcuTypeTable = &table{
	kind: "pcu type", from: "pcu_types t", pk: "t.pcu_type_id",
	cols: map[string]column{
		"pcu_type_id": {"t.pcu_type_id", kInt, false}, "model": {"t.model", kString, false},
		"name": {"t.name", kString, false},
	},
	lists: map[string]listCol{
		"pcu_protocol_type_ids": {table: "pcu_protocol_types", owner: "pcu_type_id", member: "pcu_protocol_type_id"},
	},
}

// pcuProtocolTypeTable is what a PCU protocol type Query may name.
var pcuProtocolTypeTable = &table{
	kind: "pcu protocol type", from: "pcu_protocol_types t", pk: "t.pcu_protocol_type_id",
	cols: map[string]column{
		"pcu_protocol_type_id": {"t.pcu_protocol_type_id", kInt, false}, "pcu_type_id": {"t.pcu_type_id", kInt, false},
		"port": {"t.port", kInt, false}, "protocol": {"t.protocol", kString, false},
		"supported": {"t.supported", kBool, false},
	},
}

const (
	pcuTypeCols         = "t.pcu_type_id, t.model, t.name"
	pcuProtocolTypeCols = "t.pcu_protocol_type_id, t.pcu_type_id, t.port, t.protocol, t.supported"
)

func scanPCUType(r *sql.Rows) (PCUType, error) {
	var p PCUType
	err := r.Scan(&p.PCUTypeID, &p.Model, &p.Name)
	p.PCUProtocolTypeIDs, p.PCUProtocolTypes = []int64{}, []PCUProtocolType{}
	return p, err
}

func scanPCUProtocolType(r *sql.Rows) (PCUProtocolType, error) {
	var p PCUProtocolType
	err := r.Scan(&p.PCUProtocolTypeID, &p.PCUTypeID, &p.Port, &p.Protocol, &p.Supported)
	return p, err
}

// PCUTypes lists PCU types, each with its protocol types in id order.
func (t *tx) PCUTypes(q Query) ([]PCUType, error) {
	types, err := list(t, pcuTypeTable, pcuTypeCols, q, scanPCUType)
	if err != nil || len(types) == 0 {
		return types, err
	}
	at := make(map[int64]int, len(types))
	ids := make([]any, len(types))
	for i, p := range types {
		at[p.PCUTypeID], ids[i] = i, p.PCUTypeID
	}
	sel := "SELECT " + pcuProtocolTypeCols + " FROM pcu_protocol_types t"
	if len(ids) <= maxInList {
		sel += " WHERE t.pcu_type_id IN (" + placeholders("?", len(ids)) + ")"
	} else {
		ids = nil // read them all: a query holds a bounded number of parameters
	}
	protos, err := scanAll(t, t.d.rebind(sel+" ORDER BY t.pcu_protocol_type_id"), ids, scanPCUProtocolType)
	if err != nil {
		return nil, fmt.Errorf("list pcu protocol types: %w", err)
	}
	for _, p := range protos {
		if i, ok := at[p.PCUTypeID]; ok {
			types[i].PCUProtocolTypeIDs = append(types[i].PCUProtocolTypeIDs, p.PCUProtocolTypeID)
			types[i].PCUProtocolTypes = append(types[i].PCUProtocolTypes, p)
		}
	}
	return types, nil
}

// AddPCUType adds a PCU type; ErrConflict if its model is taken.
func (t *tx) AddPCUType(p *PCUType) error {
	if err := t.writable(); err != nil {
		return err
	}
	id, err := t.insert("pcu_types", "pcu_type_id", []string{"model", "name"}, []any{p.Model, p.Name},
		fmt.Errorf("%w: pcu type model %q exists", ErrConflict, p.Model))
	if err != nil {
		return err
	}
	p.PCUTypeID, p.PCUProtocolTypeIDs, p.PCUProtocolTypes = id, []int64{}, []PCUProtocolType{}
	return t.event("AddPCUType", "pcu type", id, map[string]any{"model": p.Model, "name": p.Name})
}

// UpdatePCUType writes a PCU type's model and name; ErrConflict if the
// model is another type's.
func (t *tx) UpdatePCUType(p *PCUType) error {
	if err := t.writable(); err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: pcu type model %q exists", ErrConflict, p.Model)
	if taken, err := t.taken("pcu_types", "pcu_type_id", "model", false, p.Model, p.PCUTypeID); err != nil {
		return err
	} else if taken {
		return conflict
	}
	if err := t.update("pcu_types", "pcu_type_id", p.PCUTypeID, []string{"model", "name"}, []any{p.Model, p.Name}, conflict); err != nil {
		return err
	}
	return t.event("UpdatePCUType", "pcu type", p.PCUTypeID, map[string]any{"model": p.Model, "name": p.Name})
}

// DeletePCUType deletes a PCU type and its protocol types.
func (t *tx) DeletePCUType(id int64) error {
	return t.deleteRow("pcu_types", "pcu_type_id", "pcu type", "DeletePCUType", id)
}

// PCUProtocolTypes lists PCU protocol types.
func (t *tx) PCUProtocolTypes(q Query) ([]PCUProtocolType, error) {
	return list(t, pcuProtocolTypeTable, pcuProtocolTypeCols, q, scanPCUProtocolType)
}

// AddPCUProtocolType adds a protocol type to its PCU type.
func (t *tx) AddPCUProtocolType(p *PCUProtocolType) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("pcu_types", "pcu_type_id", p.PCUTypeID); err != nil {
		return err
	}
	id, err := t.insert("pcu_protocol_types", "pcu_protocol_type_id", []string{"pcu_type_id", "port", "protocol", "supported"},
		[]any{p.PCUTypeID, p.Port, p.Protocol, p.Supported}, fmt.Errorf("%w: pcu protocol type exists", ErrConflict))
	if err != nil {
		return err
	}
	p.PCUProtocolTypeID = id
	return t.event("AddPCUProtocolType", "pcu protocol type", id, fields(p))
}

// UpdatePCUProtocolType writes a protocol type's port, protocol and
// supported mark (not its PCU type).
func (t *tx) UpdatePCUProtocolType(p *PCUProtocolType) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update("pcu_protocol_types", "pcu_protocol_type_id", p.PCUProtocolTypeID, []string{"port", "protocol", "supported"},
		[]any{p.Port, p.Protocol, p.Supported}, nil); err != nil {
		return err
	}
	return t.event("UpdatePCUProtocolType", "pcu protocol type", p.PCUProtocolTypeID, fields(p))
}

// DeletePCUProtocolType deletes a PCU protocol type.
func (t *tx) DeletePCUProtocolType(id int64) error {
	return t.deleteRow("pcu_protocol_types", "pcu_protocol_type_id", "pcu protocol type", "DeletePCUProtocolType", id)
}
