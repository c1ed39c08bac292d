"""The maintenance page and the function that serves it (packaged as a Lambda by keel.components.function)."""
