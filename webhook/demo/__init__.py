"""The one-command demo (``webhook-deployer demo``): a local control plane, a sample
repository, a stand-in for GitHub and ``serve``, playing the whole loop (``story.py``)."""
