output "state_bucket" {
  description = "The Pulumi state bucket."
  value       = aws_s3_bucket.state.bucket
}

output "backend_url" {
  description = "For `pulumi login`: the DIY S3 backend URL."
  value       = "s3://${aws_s3_bucket.state.bucket}?region=${var.region}&awssdk=v2"
}

output "secrets_provider" {
  description = "For `pulumi stack init --secrets-provider`: the awskms:// URL of the secrets key."
  value       = "awskms://${aws_kms_alias.secrets.name}?region=${var.region}"
}

output "secrets_key_arn" {
  description = "The KMS key that encrypts Pulumi secrets."
  value       = aws_kms_key.secrets.arn
}

output "github_oidc_provider_arn" {
  description = "The GitHub Actions OIDC provider."
  value       = aws_iam_openid_connect_provider.github.arn
}

output "deploy_role_arns" {
  description = "Stack -> the role its GitHub environment assumes (set as the environment's DEPLOY_ROLE_ARN)."
  value       = { for stack, role in aws_iam_role.deploy : stack => role.arn }
}
