"""The local platform (`mlplat dev`): the runtime end to end on 127.0.0.1, no AWS account needed."""
