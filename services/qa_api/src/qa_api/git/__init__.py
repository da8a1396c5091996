"""Git's view of a project (from the webhook listener): commits as git records them, branch and tag tips."""
