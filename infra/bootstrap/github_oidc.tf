# GitHub Actions OIDC: workflows get short-lived credentials, no stored keys. Each stack has its own deploy role,
# assumable only by jobs of one repository running in that stack's GitHub environment (with its protection rules).
resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

locals {
  pulumi_project = "mlplat"
  state_prefix   = "${aws_s3_bucket.state.arn}/.pulumi"
}

data "aws_iam_policy_document" "deploy_trust" {
  for_each = var.stacks

  statement {
    sid     = "GitHubEnvironmentOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${each.value.environment}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  for_each = var.stacks

  name                 = "${var.name_prefix}-deploy-${each.key}"
  description          = "Deploys the Pulumi stack ${each.key} from GitHub environment ${each.value.environment}"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust[each.key].json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary_arn
}

# Each role reads and writes only its own stack's state (plus the global stack's outputs, for StackReference).
data "aws_iam_policy_document" "deploy_state" {
  for_each = var.stacks

  statement {
    sid     = "OwnStackState"
    effect  = "Allow"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [
      "${local.state_prefix}/stacks/${local.pulumi_project}/${each.key}.json*",
      "${local.state_prefix}/history/${local.pulumi_project}/${each.key}/*",
      "${local.state_prefix}/backups/${local.pulumi_project}/${each.key}/*",
      "${local.state_prefix}/locks/${local.pulumi_project}/${each.key}/*",
    ]
  }
  statement {
    sid     = "ReadBackendMetadataAndGlobalOutputs"
    effect  = "Allow"
    actions = ["s3:GetObject"]
    resources = [
      "${local.state_prefix}/meta.yaml",
      "${local.state_prefix}/stacks/${local.pulumi_project}/global.json",
    ]
  }
  statement {
    sid       = "ListPulumiPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [".pulumi/*"]
    }
  }
  statement {
    sid       = "UseStateAndSecretsKeys"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.state.arn, aws_kms_key.secrets.arn]
  }
}

resource "aws_iam_role_policy" "deploy_state" {
  for_each = var.stacks

  name   = "pulumi-state-${each.key}"
  role   = aws_iam_role.deploy[each.key].id
  policy = data.aws_iam_policy_document.deploy_state[each.key].json
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = { for pair in setproduct(keys(var.stacks), var.deploy_policy_arns) : "${pair[0]}|${pair[1]}" => pair }

  role       = aws_iam_role.deploy[each.value[0]].name
  policy_arn = each.value[1]
}
