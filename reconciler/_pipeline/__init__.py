"""The stages, in the order data flows through them:

    observe (reads; model.track: the floating aliases' pure step)
      -> desired (pure: the index each alias should hold)
      -> plan (pure: create / update / noop / conflict / error, prune's deletes)
      -> apply (the only writer; transfer copies manifests from other repositories first)

prune finds the aliases to delete (reads) and deletes them for apply. Rendering the plan or the
report is `reconciler._output.render` / `markdown` / `metrics`, outside the pipeline.
"""
