"""The training pipeline (`mlplat-train`): point-in-time training sets, a validation gate, Ray Train, registration."""
