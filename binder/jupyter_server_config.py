# Jupyter server settings for Binder, `make lab` and tests/test_voila.py: binder/start puts this folder on
# JUPYTER_CONFIG_PATH, so every Jupyter server started through it reads this file.
c = get_config()  # noqa: F821  (Jupyter defines get_config when it loads this file)

# Voilà through the server (/voila/render/notebooks/NN.ipynb, the README's Voilà badge) inlines the images of
# markdown cells with synchronous calls to the server's contents manager. jupyter_server's default manager
# is asynchronous, so those calls return coroutines and every notebook with a markdown image stops rendering
# ("TypeError: 'coroutine' object is not subscriptable"; voila-dashboards/voila#1473, open, not fixed in
# any Voilà release up to 0.5.13). The synchronous manager of the same family (the one jupyter_server used by
# default before 2.0; JupyterLab works the same with it) makes those calls work. Standalone `voila` already
# uses it. Remove this once Voilà awaits the contents manager.
c.ServerApp.contents_manager_class = "jupyter_server.services.contents.largefilemanager.LargeFileManager"
