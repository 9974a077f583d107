"""kubesim: the chart's rendered manifests on real containers (see cluster.py)."""
