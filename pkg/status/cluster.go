package status

// ClusterTask is one of Trove's ClusterTasks (clusters.task_id); the view shows {"id", "name", "description"}.
type ClusterTask struct {
	Code        int
	Name        string
	Description string
}

// Cluster tasks, named after Trove's ClusterTasks members.
var (
	ClusterNone        = ClusterTask{1, "NONE", "No tasks for the cluster."}
	ClusterBuilding    = ClusterTask{2, "BUILDING", "Building the initial cluster."}
	ClusterDeleting    = ClusterTask{3, "DELETING", "Deleting the cluster."}
	ClusterAddingShard = ClusterTask{4, "ADDING_SHARD", "Adding a shard to the cluster."}
	ClusterGrowing     = ClusterTask{5, "GROWING_CLUSTER", "Increasing the size of the cluster."}
	ClusterShrinking   = ClusterTask{6, "SHRINKING_CLUSTER", "Decreasing the size of the cluster."}
	ClusterUpgrading   = ClusterTask{7, "UPGRADING_CLUSTER", "Upgrading the cluster to new version."}
	ClusterRestarting  = ClusterTask{8, "RESTARTING_CLUSTER", "Restarting the cluster."}
	ClusterUpdating    = ClusterTask{9, "UPDATING_CLUSTER", "Updating cluster configuration."}
)

// ClusterTasks lists every cluster task in code order.
var ClusterTasks = []ClusterTask{
	ClusterNone, ClusterBuilding, ClusterDeleting, ClusterAddingShard, ClusterGrowing, ClusterShrinking,
	ClusterUpgrading, ClusterRestarting, ClusterUpdating,
}

// Backup states (backups.state, states.md §1.5).
const (
	BackupNew          = "NEW"
	BackupBuilding     = "BUILDING"
	BackupSaving       = "SAVING"
	BackupCompleted    = "COMPLETED"
	BackupFailed       = "FAILED"
	BackupDeleteFailed = "DELETE_FAILED"
	BackupRestored     = "RESTORED"
)

// BackupRunning reports a state in which the backup is still being made (the instance shows BACKUP).
func BackupRunning(state string) bool {
	return state == BackupNew || state == BackupBuilding || state == BackupSaving
}
