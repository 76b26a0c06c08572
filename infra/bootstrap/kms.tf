data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  tags = {
    owner        = var.owner
    cost-center  = var.cost_center
    jurisdiction = "global"
    stack        = "bootstrap"
    managed-by   = "terraform"
  }
}

# The account administers its keys through IAM; deploy roles get use of them through their own policies.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:in a key policy, Resource "*" is this key only, and only the account root is named
  #checkov:skip=CKV_AWS_111:in a key policy, Resource "*" is this key only, and only the account root is named
  #checkov:skip=CKV_AWS_356:in a key policy, Resource "*" is this key only, and only the account root is named
  statement {
    sid       = "AccountAdministersThroughIam"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }
}

resource "aws_kms_key" "state" {
  description             = "${var.name_prefix}: Pulumi state bucket"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  multi_region            = false
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.name_prefix}/pulumi-state"
  target_key_id = aws_kms_key.state.key_id
}

# Encrypts Pulumi secrets in stack configs and state: `--secrets-provider awskms://alias/<prefix>/pulumi-secrets`.
resource "aws_kms_key" "secrets" {
  description             = "${var.name_prefix}: Pulumi secrets provider (awskms://)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  multi_region            = false
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name_prefix}/pulumi-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}
