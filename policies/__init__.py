"""Policy-as-code: rules as pure functions, the CrossGuard pack and the checkov integration."""
