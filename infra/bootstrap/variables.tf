variable "region" {
  description = "Region of the Pulumi state bucket and keys (the platform's primary region)."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every name this module creates."
  type        = string
  default     = "mlplat"
}

variable "state_bucket_name" {
  description = "Globally unique name of the Pulumi state bucket; its access logs go to <name>-access-logs."
  type        = string
}

variable "github_repository" {
  description = "The repository whose workflows deploy, as owner/name. No wildcards."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, without wildcards."
  }
}

variable "stacks" {
  description = "Pulumi stack -> the GitHub environment whose jobs may deploy it (one deploy role per stack)."
  type        = map(object({ environment = string }))
  default = {
    "global"         = { environment = "production-global" }
    "us-east-1"      = { environment = "production-us-east-1" }
    "eu-west-1"      = { environment = "production-eu-west-1" }
    "eu-central-1"   = { environment = "production-eu-central-1" }
    "ap-southeast-1" = { environment = "production-ap-southeast-1" }
  }

  validation {
    condition     = alltrue([for s in values(var.stacks) : can(regex("^[A-Za-z0-9_.-]+$", s.environment))])
    error_message = "Environment names are exact names, without wildcards."
  }
}

variable "deploy_policy_arns" {
  description = "Managed policies that grant the deploy roles what the Pulumi program creates (attached to every role)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the deploy roles."
  type        = string
  default     = null
}

variable "owner" {
  description = "The owner tag."
  type        = string
  default     = "ml-platform"
}

variable "cost_center" {
  description = "The cost-center tag."
  type        = string
  default     = "cc-4711"
}

variable "log_retention_days" {
  description = "Days the state bucket's access logs are kept."
  type        = number
  default     = 365
}
