"""The test suite (a package, so that tests/github never shadows PyGithub's ``github``)."""
