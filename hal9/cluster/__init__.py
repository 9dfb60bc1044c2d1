"""Cluster mode: the state that is one per deployment, kept on NATS JetStream beside the network."""

from hal9.cluster.state import CLUSTER_SERVICE, ClusterState

__all__ = ["CLUSTER_SERVICE", "ClusterState"]
