"""Running the processes of a consortium on one machine: an etcd cluster and its nodes."""
