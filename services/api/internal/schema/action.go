package schema

// Action kinds of POST /instances/{id}/action.
const (
	ActionRestart      = "restart"
	ActionResizeVolume = "resize_volume"
	ActionResizeFlavor = "resize_flavor"
	ActionPromote      = "promote_to_replica_source"
	ActionEject        = "eject_replica_source"
	ActionResetStatus  = "reset_status"
)

// InstanceAction is a validated instance action body.
type InstanceAction struct {
	Kind        string
	VolumeSize  int64  // resize_volume
	FlavorRef   string // resize_flavor
	ForceDelete bool   // reset_status with a force_delete key
}

// UnknownActionError is a body whose key names no action (Trove answers 500; we answer 400).
type UnknownActionError struct{ Key string }

func (e *UnknownActionError) Error() string { return "Invalid instance action: " + e.Key }

// ParseInstanceAction validates {"<action>": {...}}. Trove picks the schema by the body's first key and runs
// the last matching action; a body with several action keys is ambiguous, so we refuse it.
func ParseInstanceAction(doc any) (*InstanceAction, error) {
	m, err := object(nil, doc)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fail(nil, "%s should have exactly one action", shown(nil, doc))
	}
	var key string
	var v any
	for key, v = range m {
	}
	p := path{key}
	switch key {
	case "restart", "promote_to_replica_source", "eject_replica_source":
		if _, err := object(p, v); err != nil {
			return nil, err
		}
		return &InstanceAction{Kind: key}, nil
	case "reset_status":
		o, err := object(p, v)
		if err != nil {
			return nil, err
		}
		_, force := o["force_delete"]
		return &InstanceAction{Kind: ActionResetStatus, ForceDelete: force}, nil
	case "resize":
		o, err := object(p, v)
		if err != nil {
			return nil, err
		}
		vol, hasVol := o["volume"]
		flavor, hasFlavor := o["flavorRef"]
		switch {
		case hasVol && hasFlavor:
			return nil, fail(p, "Not allowed to resize volume and flavor at the same time.")
		case hasVol:
			vp := p.key("volume")
			vm, err := object(vp, vol)
			if err != nil {
				return nil, err
			}
			if err := required(vp, vm, "size"); err != nil {
				return nil, err
			}
			size, err := volSize(vp.key("size"), vm["size"])
			if err != nil {
				return nil, err
			}
			return &InstanceAction{Kind: ActionResizeVolume, VolumeSize: size}, nil
		case hasFlavor:
			ref, err := flavorRef(p.key("flavorRef"), flavor)
			if err != nil {
				return nil, err
			}
			return &InstanceAction{Kind: ActionResizeFlavor, FlavorRef: ref}, nil
		}
		return nil, fail(p, "%s is not valid under any of the given schemas", shown(p, v))
	}
	return nil, &UnknownActionError{Key: key}
}
