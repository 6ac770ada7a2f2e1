"""sys.argv, __name__, the default program and sys.exit(): exit(int(argv[1]))."""

import sys

import drgn

print("argv:", sys.argv[1:])
print("argv[0] is the script:", sys.argv[0].endswith("exit_codes.py"))
print("__name__:", __name__)
print("prog is the default program:", drgn.get_default_prog() is prog)
print("file:", __file__.endswith("exit_codes.py"))
if __name__ == "__main__":
    code = sys.argv[1] if len(sys.argv) > 1 else "0"
    sys.stdout.flush()
    sys.exit(int(code) if code.lstrip("-").isdigit() else code)
