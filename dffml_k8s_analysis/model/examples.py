"""The example release notes a kind/bug model must get right: ``predict --test`` and the pipeline's gate."""

# (note, expected to carry the label) in the spirit of the original's examples
EXAMPLES = [
    ("Fixed a bug where kubelet crashes when the pod has no containers", True),
    ("Fix a panic in kube-proxy when the service has no endpoints", True),
    ("Fixed an issue where the scheduler could not schedule pods after a node restart", True),
    ("Fix a race condition in the volume manager that caused pods to be stuck in ContainerCreating", True),
    ("Added a new --output flag to kubectl to print resources as YAML", False),
    ("Promote the CronJob API to GA", False),
    ("Update the default etcd server version to 3.5.9", False),
    ("The deprecated --foo flag is removed from kube-apiserver", False),
]
