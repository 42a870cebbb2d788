"""An agentless ML2 mechanism driver: binds every port on the first segment offered (vif type ovs, port ACTIVE).

Stateless, so bindings survive a neutron-server restart; works on vlan and flat segments. The test bed has no L2
agent: nothing is plugged, the boot emulator runs each guest on the port's fixed IP (127.x.y.z) instead.
Registered as `trove_agentless` in neutron.ml2.mechanism_drivers (../trove_testbed-1.0.dist-info).
"""
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class AgentlessMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: False, portbindings.OVS_HYBRID_PLUG: False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
