from django.db import migrations


def fill(apps, schema_editor):
    apps.get_model("documents", "Widget").objects.update(title="x")


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
