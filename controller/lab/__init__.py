"""The lab: topologies from YAML built as network namespaces and veth pairs."""
