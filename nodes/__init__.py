"""Node kinds (sources, transforms, sinks) and the domain code they share."""
