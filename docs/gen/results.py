"""placeholder"""
def pages(root): return {}
def with_teaser(text, root): return text
