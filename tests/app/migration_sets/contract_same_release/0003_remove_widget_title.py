from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("documents", "0002_widget_name")]
    contract_after = [("documents", "0002_widget_name")]
    operations = [migrations.RemoveField("widget", "title")]
