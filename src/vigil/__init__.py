"""vigil: runtime detection and response for containers and Kubernetes."""

__version__ = "0.1.0"
