"""Command handlers: each takes the parsed argparse.Namespace and prints."""
