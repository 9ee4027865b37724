"""rft: the domain library and CLI of rft-stack."""

# The project's name, and the value of the `project` cost-allocation tag that every resource,
# including the jobs, models and deployments created at run time, carries (the budget filters on it).
PROJECT = "rft-stack"
